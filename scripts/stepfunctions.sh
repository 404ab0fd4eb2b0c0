#!/usr/bin/env bash
# Installs the pinned Node tools the state-machine tests run (infra/asltest):
# aws-local-stepfunctions 3.0.0 (runs template.yaml's ASL locally) and
# asl-validator 4.0.0, exactly as scripts/stepfunctions/package-lock.json pins
# them, into a cache outside the repo, and prints that folder. Tests find it
# there, or via $SQLFEED_STEPFUNCTIONS. Needs node and npm (Debian: nodejs npm).
set -euo pipefail

src="$(cd "$(dirname "$0")/stepfunctions" && pwd)"
dir="${SQLFEED_STEPFUNCTIONS:-${SQLFEED_CACHE:-$HOME/.cache/sqlfeed}/stepfunctions}"
mkdir -p "$dir"
if ! cmp -s "$src/package-lock.json" "$dir/package-lock.json" || [ ! -d "$dir/node_modules/aws-local-stepfunctions" ]; then
  echo "stepfunctions.sh: installing aws-local-stepfunctions and asl-validator into $dir" >&2
  cp "$src/package.json" "$src/package-lock.json" "$dir/"
  # aws-local-stepfunctions declares Node 22; it runs on Node 20 with a
  # Promise.withResolvers polyfill (infra/asltest loads one first).
  (cd "$dir" && npm ci --no-audit --no-fund --engine-strict=false --loglevel=error) >&2
fi
echo "$dir"
