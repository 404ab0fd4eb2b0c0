#!/usr/bin/env bash
# Installs the pinned developer tools into the cache outside the repo
# (${SQLFEED_CACHE:-$HOME/.cache/sqlfeed}/bin): staticcheck.
set -euo pipefail
bin="${SQLFEED_CACHE:-$HOME/.cache/sqlfeed}/bin"
mkdir -p "$bin"
if [ ! -x "$bin/staticcheck" ]; then
  echo "tools: installing staticcheck v0.8.2 into $bin"
  GOBIN="$bin" go install honnef.co/go/tools/cmd/staticcheck@v0.8.2
fi
