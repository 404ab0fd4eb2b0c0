#!/usr/bin/env bash
# Installs the pinned MinIO server the S3 tests run against into a cache outside
# the repo (built from the Go module proxy: 4-7 minutes the first time, then
# cached) and prints the binary's path. Tests find it there, or via $SQLFEED_MINIO.
set -euo pipefail

MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c
cache="${SQLFEED_CACHE:-$HOME/.cache/sqlfeed}"
bin="$cache/bin/minio"

if [ -n "${SQLFEED_MINIO:-}" ] && [ -x "$SQLFEED_MINIO" ]; then
  echo "$SQLFEED_MINIO"
  exit 0
fi
if [ ! -x "$bin" ]; then
  echo "minio.sh: building github.com/minio/minio@$MINIO_VERSION into $cache/bin (takes a few minutes)" >&2
  mkdir -p "$cache/bin"
  # Outside the repo so this module's go.mod is neither read nor changed.
  (cd "$cache" && GOBIN="$cache/bin" GOFLAGS= GO111MODULE=on go install "github.com/minio/minio@$MINIO_VERSION") >&2
fi
echo "$bin"
