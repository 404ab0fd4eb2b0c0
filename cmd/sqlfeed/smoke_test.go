package main

import (
	"bytes"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sqlfeed/sqlfeed/infra/blob/fileblob"
	"github.com/sqlfeed/sqlfeed/infra/testsvc"
)

// standInAWS is an `aws` for scripts/smoke.sh: it logs every call, answers
// describe-stacks from the recording in testdata/smoke (FeedsBaseUrl pointed at
// the test's server, the state machine output added when STANDIN_SM is set),
// runs `lambda invoke` as the function would (sqlfeed run of the named feed
// into the served folder, its standard response as the payload), and answers
// the Step Functions calls from a counter.
const standInAWS = `#!/usr/bin/env bash
set -euo pipefail
echo "$*" >>"$STANDIN_DIR/calls.log"
case "$1 $2" in
"cloudformation describe-stacks")
	jq --arg base "$STANDIN_BASE" --arg sm "${STANDIN_SM:-}" '
		.Stacks[0].Outputs |= map(if .OutputKey == "FeedsBaseUrl" then .OutputValue = $base else . end)
		| if $sm != "" then .Stacks[0].Outputs += [{"OutputKey": "ExportStateMachineArn", "OutputValue": $sm}, {"OutputKey": "ShardedFeeds", "OutputValue": "tracks-paged"}] else . end' \
		"$STANDIN_RECORDING"
	;;
"lambda invoke")
	out="${@: -1}"
	payload=""
	while [ $# -gt 0 ]; do [ "$1" = --payload ] && payload="$2"; shift; done
	feed="$(jq -r '.feeds[0]' <<<"$payload")"
	if [ "$feed" = "${STANDIN_FAIL_FEED:-}" ]; then
		echo '{"errorMessage": "{\"status\":\"error\",\"message\":\"feed '"$feed"' failed: connection refused\"}", "errorType": "ResponseError"}' >"$out"
		echo '{"StatusCode": 200, "FunctionError": "Unhandled", "ExecutedVersion": "7"}'
		exit 0
	fi
	"$STANDIN_SQLFEED" run --json --to "file://$STANDIN_FOLDER" "$feed" >"$out" 2>/dev/null || true
	if [ "$feed" = "${STANDIN_CORRUPT_FEED:-}" ]; then
		sed -i '0,/"/s//"X/' "$STANDIN_FOLDER/$feed/latest.json"
	fi
	echo '{"StatusCode": 200, "ExecutedVersion": "7"}'
	;;
"stepfunctions start-execution")
	echo '{"executionArn": "arn:aws:states:eu-west-1:123456789012:execution:sqlfeed-demo-export:smoke-1", "startDate": "2026-12-03T10:00:00Z"}'
	;;
"stepfunctions describe-execution")
	n=$(($(cat "$STANDIN_DIR/polls" 2>/dev/null || echo 0) + 1))
	echo "$n" >"$STANDIN_DIR/polls"
	status=RUNNING
	[ "$n" -lt "${STANDIN_SM_POLLS:-2}" ] || status="${STANDIN_SM_END:-SUCCEEDED}"
	echo '{"executionArn": "x", "status": "'"$status"'"}'
	;;
*)
	echo "stand-in aws: unexpected call: $*" >&2
	exit 255
	;;
esac
`

// TestSmoke runs scripts/smoke.sh against a stand-in aws CLI: everything
// below the AWS CLI calls is real (the sqlfeed binary exporting the demo and
// checking it over HTTP through fileblob.Handler).
func TestSmoke(t *testing.T) {
	for _, tool := range []string{"bash", "jq"} {
		if _, err := exec.LookPath(tool); err != nil {
			testsvc.Missing(t, tool, err, "apt-get install "+tool+" (scripts/test-services.sh does)")
		}
	}
	root, _ := filepath.Abs("../..")
	bin := filepath.Join(t.TempDir(), "sqlfeed")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	fakeBin := t.TempDir()
	if err := os.WriteFile(filepath.Join(fakeBin, "aws"), []byte(standInAWS), 0o755); err != nil {
		t.Fatal(err)
	}

	for _, c := range []struct {
		name string
		env  []string
		ok   bool
		want []string // in the script's output
	}{
		{"good", nil, true, []string{"smoke: feed tracks: success (version 7)", "smoke: sqlfeed-demo OK"}},
		{"with the state machine", []string{"STANDIN_SM=arn:aws:states:eu-west-1:123456789012:stateMachine:sqlfeed-demo-export"}, true,
			[]string{"state machine: feed tracks-paged: SUCCEEDED", "smoke: sqlfeed-demo OK"}},
		{"a failing feed", []string{"STANDIN_FAIL_FEED=albums"}, false,
			[]string{"smoke: feed albums: version 7 answered Unhandled", "invocations failed for: albums"}},
		{"state machine fails", []string{"STANDIN_SM=arn:sm", "STANDIN_SM_END=FAILED"}, false, []string{"ended FAILED"}},
		{"state machine never ends", []string{"STANDIN_SM=arn:sm", "STANDIN_SM_POLLS=1000", "SMOKE_WAIT=2", "SMOKE_POLL=1"}, false,
			[]string{"did not finish within 2s"}},
		{"check finds a changed byte", []string{"STANDIN_CORRUPT_FEED=genres"}, false,
			[]string{"feed genres: latest.json: sha256", "sqlfeed check", "found problems"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir, folder := t.TempDir(), t.TempDir()
			store, err := fileblob.Open(folder)
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(fileblob.Handler(store))
			defer srv.Close()
			cmd := exec.Command("bash", "scripts/smoke.sh", "sqlfeed-demo")
			cmd.Dir = root
			cmd.Env = append(os.Environ(),
				"PATH="+fakeBin+string(os.PathListSeparator)+os.Getenv("PATH"),
				"SQLFEED="+bin, "STANDIN_SQLFEED="+bin, "STANDIN_DIR="+dir, "STANDIN_FOLDER="+folder,
				"STANDIN_BASE="+srv.URL+"/", "STANDIN_RECORDING="+filepath.Join(root, "testdata/smoke/describe-stacks.json"),
				"SMOKE_POLL=0")
			cmd.Env = append(cmd.Env, c.env...)
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			err = cmd.Run()
			if (err == nil) != c.ok {
				t.Fatalf("smoke.sh: %v, want ok=%v\n%s", err, c.ok, out.String())
			}
			for _, w := range c.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
			t.Logf("smoke.sh:\n%s", out.String())
			calls, _ := os.ReadFile(filepath.Join(dir, "calls.log"))
			invokes := 0
			for _, l := range strings.Split(string(calls), "\n") {
				if strings.HasPrefix(l, "lambda invoke") {
					invokes++
					for _, flag := range []string{"--function-name sqlfeed-demo-export", "--qualifier live", "--cli-read-timeout 0", `--payload {"feeds": [`} {
						if !strings.Contains(l, flag) {
							t.Errorf("invoke without %q: %s", flag, l)
						}
					}
				}
			}
			if invokes != 6 {
				t.Errorf("%d invocations, want one per feed (6):\n%s", invokes, calls)
			}
		})
	}
	// No stack name: usage.
	cmd := exec.Command("bash", "scripts/smoke.sh")
	cmd.Dir = root
	if err := cmd.Run(); err == nil || cmd.ProcessState.ExitCode() != 2 {
		t.Errorf("no stack: %v, want exit 2", err)
	}
}
