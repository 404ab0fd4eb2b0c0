# sqlfeed — see README.md. `make test` is the whole suite (what .ci/run calls).
GO ?= go

.PHONY: test run vet bench chinook-db lint

test: vet
	$(GO) test -race -count=1 -timeout 30m ./...

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }
	$(GO) vet ./...

run:
	$(GO) run ./cmd/sqlfeed run

chinook-db:
	$(GO) run ./testdata/mkchinook testdata/chinook/Chinook_Sqlite.sql testdata/chinook.db

# ---- Lambda functions and SAM (owned by issue 6; see lambda.mk) ----
include lambda.mk
