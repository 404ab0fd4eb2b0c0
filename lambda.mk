# Lambda build and checks (issue 6), included at the end of the Makefile.
#
# `sam build` runs `make build-ExportFunction` (template.yaml: BuildMethod
# makefile) with ARTIFACTS_DIR set: the function is bootstrap for
# provided.al2023 on arm64, plus the bundled sqlfeed.yaml.

LAMBDA_GOFLAGS = -tags lambda.norpc -trimpath -ldflags='-s -w'

.PHONY: build-ExportFunction build-PreTrafficFunction bootstrap cfn-lint smoke

build-ExportFunction:
	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) build $(LAMBDA_GOFLAGS) -o $(ARTIFACTS_DIR)/bootstrap ./functions/export
	cp sqlfeed.yaml $(ARTIFACTS_DIR)/sqlfeed.yaml

# The CodeDeploy PreTraffic hook (functions/pretraffic).
build-PreTrafficFunction:
	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) build $(LAMBDA_GOFLAGS) -o $(ARTIFACTS_DIR)/bootstrap ./functions/pretraffic

# bootstrap builds the function into bin/export/ without SAM.
bootstrap:
	$(MAKE) build-ExportFunction ARTIFACTS_DIR=$(CURDIR)/bin/export

cfn-lint:
	cfn-lint template.yaml

# smoke checks a deployed stack: every feed invoked once through the alias
# "live", then `sqlfeed check` on its public URL (scripts/smoke.sh).
smoke:
	@test -n "$(STACK)" || { echo "usage: make smoke STACK=name"; exit 2; }
	scripts/smoke.sh "$(STACK)"
