#!/usr/bin/env bash
# make smoke STACK=name — checks a deployed sqlfeed stack end to end, as its
# consumers see it (README "Checking a deployment"):
#   1. reads the stack's outputs (aws cloudformation describe-stacks):
#      FeedsBaseUrl, ExportFunctionName and, when the stack has one,
#      ExportStateMachineArn;
#   2. invokes the function once per feed of the config (sqlfeed list),
#      synchronously through the alias "live", with a direct input naming the
#      feed; --cli-read-timeout 0, because the CLI's default 60 s read timeout
#      retries the call and starts a second export;
#   3. with a state machine (sharded feeds): starts it once for each feed of
#      the output ShardedFeeds ({"sqlfeed": "plan", "feed": …}, a manual run)
#      and polls each execution to its end, at most SMOKE_WAIT seconds;
#   4. runs `sqlfeed check` on FeedsBaseUrl and fails loudly with what is wrong.
#
# Needs the AWS CLI v2 and jq. Environment:
#   AWS             the AWS CLI (default: aws)
#   SQLFEED         the sqlfeed command (default: go run ./cmd/sqlfeed)
#   SQLFEED_CONFIG  the config whose feeds are invoked (default: sqlfeed.yaml)
#   SMOKE_WAIT      longest wait for the state machine, seconds (default 900)
#   SMOKE_POLL      seconds between polls (default 10)
#   SMOKE_MAX_AGE   passed to sqlfeed check as --max-age (default: twice each schedule)
set -euo pipefail

STACK="${1:-}"
if [ -z "$STACK" ]; then
	echo "usage: scripts/smoke.sh STACK (or make smoke STACK=name)" >&2
	exit 2
fi
AWS="${AWS:-aws}"
SQLFEED="${SQLFEED:-go run ./cmd/sqlfeed}"
CONFIG="${SQLFEED_CONFIG:-sqlfeed.yaml}"
WAIT="${SMOKE_WAIT:-900}"
POLL="${SMOKE_POLL:-10}"
command -v jq >/dev/null || { echo "smoke: jq is needed (apt-get install jq)" >&2; exit 2; }

fail() {
	echo "smoke: FAILED: $*" >&2
	exit 1
}

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# 1. Outputs.
$AWS cloudformation describe-stacks --stack-name "$STACK" --output json >"$tmp/stack.json" ||
	fail "aws cloudformation describe-stacks --stack-name $STACK"
output() { jq -r --arg k "$1" '.Stacks[0].Outputs[]? | select(.OutputKey == $k) | .OutputValue' "$tmp/stack.json"; }
base="$(output FeedsBaseUrl)"
fn="$(output ExportFunctionName)"
sm="$(output ExportStateMachineArn)"
sharded="$(output ShardedFeeds | tr ',' ' ')"
[ -n "$base" ] || fail "stack $STACK has no output FeedsBaseUrl"
[ -n "$fn" ] || fail "stack $STACK has no output ExportFunctionName"
echo "smoke: stack $STACK: function $fn (alias live), feeds at $base"

# 2. One synchronous invocation per feed, through the alias.
feeds="$($SQLFEED list --config "$CONFIG" | awk 'NR > 1 { print $1 }')"
[ -n "$feeds" ] || fail "no feeds in $CONFIG"
failed=""
for feed in $feeds; do
	payload="{\"feeds\": [\"$feed\"]}"
	if ! $AWS lambda invoke --function-name "$fn" --qualifier live --cli-read-timeout 0 \
		--cli-binary-format raw-in-base64-out --payload "$payload" --output json \
		"$tmp/$feed.out" >"$tmp/$feed.meta"; then
		echo "smoke: feed $feed: aws lambda invoke failed" >&2
		failed="$failed $feed"
		continue
	fi
	ferr="$(jq -r '.FunctionError // empty' "$tmp/$feed.meta")"
	version="$(jq -r '.ExecutedVersion // "?"' "$tmp/$feed.meta")"
	status="$(jq -r '.data.feeds[0].status // .status // empty' "$tmp/$feed.out" 2>/dev/null || true)"
	if [ -n "$ferr" ] || { [ "$status" != success ] && [ "$status" != unchanged ]; }; then
		echo "smoke: feed $feed: version $version answered ${ferr:-$status}: $(head -c 2000 "$tmp/$feed.out")" >&2
		failed="$failed $feed"
		continue
	fi
	echo "smoke: feed $feed: $status (version $version)"
done
[ -z "$failed" ] || fail "invocations failed for:$failed"

# 3. The state machine of sharded feeds, when the stack has one: one manual
# execution per sharded feed.
if [ -n "$sm" ]; then
	[ -n "$sharded" ] || fail "stack $STACK has a state machine but no output ShardedFeeds"
	for feed in $sharded; do
		arn="$($AWS stepfunctions start-execution --state-machine-arn "$sm" --input "{\"sqlfeed\": \"plan\", \"feed\": \"$feed\"}" --output json | jq -r .executionArn)"
		[ -n "$arn" ] && [ "$arn" != null ] || fail "could not start $sm for feed $feed"
		echo "smoke: state machine: feed $feed: started $arn"
		deadline=$(($(date +%s) + WAIT))
		while :; do
			status="$($AWS stepfunctions describe-execution --execution-arn "$arn" --output json | jq -r .status)"
			[ "$status" = RUNNING ] || break
			[ "$(date +%s)" -lt "$deadline" ] || fail "state machine execution $arn did not finish within ${WAIT}s"
			sleep "$POLL"
		done
		[ "$status" = SUCCEEDED ] || fail "state machine execution $arn ended $status"
		echo "smoke: state machine: feed $feed: SUCCEEDED"
	done
fi

# 4. What consumers see.
args=()
[ -z "${SMOKE_MAX_AGE:-}" ] || args+=(--max-age "$SMOKE_MAX_AGE")
if ! $SQLFEED check "${args[@]}" "$base"; then
	fail "sqlfeed check $base found problems (above)"
fi
echo "smoke: $STACK OK"
