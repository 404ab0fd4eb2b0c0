# sqlfeed — see README.md. `make test` is the whole suite (what .ci/run calls).
GO ?= go
CACHE ?= $(or $(SQLFEED_CACHE),$(HOME)/.cache/sqlfeed)
STATICCHECK ?= $(or $(shell command -v staticcheck 2>/dev/null),$(CACHE)/bin/staticcheck)

.PHONY: test run vet bench chinook-db lint screenshots

# Two passes: everything under the race detector, then the heavy data-volume
# tests (TestHeavy*: millions of rows, gigabytes), which -race slows tenfold.
test: vet
	$(GO) test -race -count=1 -timeout 30m ./...
	$(GO) test -count=1 -timeout 30m -run Heavy ./...

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }
	$(GO) vet ./...
	@if [ -x "$(STATICCHECK)" ]; then $(STATICCHECK) ./...; \
	elif [ "$$CI" = true ]; then echo "staticcheck missing: run scripts/tools.sh"; exit 1; \
	else echo "staticcheck not installed (scripts/tools.sh installs it): skipped"; fi

# Throughput and memory against the raw read limit (docs/benchmarks.md);
# needs the test servers and MinIO. BENCH_ROWS: row counts, comma-separated.
BENCH_ROWS ?= 1000000
bench:
	$(GO) run ./bench -rows $(BENCH_ROWS)

run:
	$(GO) run ./cmd/sqlfeed run

# The README's pictures of the pages for people (docs/*.png): the demo export
# into a scratch folder, then headless Chromium. Not part of `make test`.
SHOTS_DIR ?= $(CACHE)/screenshots-public
screenshots:
	rm -rf $(SHOTS_DIR)
	SQLFEED_PUBLIC_URL=https://feeds.example.com $(GO) run ./cmd/sqlfeed run --to file://$(SHOTS_DIR)
	$(GO) run ./exporters/site/screenshots -out docs $(SHOTS_DIR)

chinook-db:
	$(GO) run ./testdata/mkchinook testdata/chinook/Chinook_Sqlite.sql testdata/chinook.db

# ---- Lambda functions and SAM (owned by issue 6; see lambda.mk) ----
include lambda.mk
