# partflow — run `make` (or `make help`) for the list of targets.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

GO ?= go
TOOLS_BIN := $(CURDIR)/.tools/bin
VERSITYGW := $(TOOLS_BIN)/versitygw
# Keep in step with localstack.VersitygwModule.
VERSITYGW_MODULE := github.com/versity/versitygw/cmd/versitygw
VERSITYGW_VERSION := v1.8.0
# kustomize renders deploy/k8s in its test (the pure-Go checks run without it too).
KUSTOMIZE := $(TOOLS_BIN)/kustomize
KUSTOMIZE_MODULE := sigs.k8s.io/kustomize/kustomize/v5
KUSTOMIZE_VERSION := v5.5.0
# s5cmd, the peer `make bench` compares with. Its module cannot be `go install`ed by version
# through the module proxy here, so it is built from a throwaway module that requires it.
S5CMD := $(TOOLS_BIN)/s5cmd
S5CMD_VERSION := v2.3.0
# What --version, partflow_build_info and the image labels say. The date is the commit's, so
# that building the same commit twice gives the same binaries (and image layers).
# Each is computed once per make run (a commit made while make runs must not give the image one
# version and its binaries another).
ifeq ($(origin VERSION),undefined)
VERSION := $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
endif
ifeq ($(origin REVISION),undefined)
REVISION := $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
endif
ifeq ($(origin BUILD_DATE),undefined)
BUILD_DATE := $(shell git log -1 --format=%cd --date=format-local:%Y-%m-%dT%H:%M:%SZ 2>/dev/null || echo unknown)
endif
LDFLAGS := -s -w -X github.com/partflow/partflow/internal/buildinfo.version=$(VERSION) \
	-X github.com/partflow/partflow/internal/buildinfo.revision=$(REVISION) \
	-X github.com/partflow/partflow/internal/buildinfo.date=$(BUILD_DATE)
# The image: both architectures go into one OCI archive (an image index), tagged $(IMAGE):$(VERSION).
IMAGE ?= partflow
IMAGE_DIR := $(CURDIR)/.state/image
IMAGE_ARCHES := amd64 arm64
# Extra flags for the demo and the benchmark, e.g. `make demo DEMO_FLAGS=--keep`.
DEMO_FLAGS ?=
BENCH_FLAGS ?=

.PHONY: help
help: ## Show this help
	@echo 'Usage: make TARGET [DEMO_FLAGS=...] [BENCH_FLAGS=...]'
	@echo
	@grep -E '^[a-zA-Z0-9_/-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  %-12s %s\n", $$1, $$2}'

# The one place that installs tools: the tests and programs only look for them and, when one
# is missing, fail with a message that names `make tools`.
.PHONY: tools
tools: ## Install what is missing: redis-server, buildah and chromium (apt-get), versitygw v1.8.0, kustomize v5.5.0 and s5cmd v2.3.0 (into .tools/bin)
	@missing=''; \
	command -v redis-server >/dev/null 2>&1 || missing="$$missing redis-server"; \
	command -v buildah >/dev/null 2>&1 || missing="$$missing buildah"; \
	if [ -n "$$missing" ]; then \
		echo "==> installing$$missing with apt-get"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=600 $$missing; \
	fi
	@# The monitor's browser test drives headless Chromium; its recommends are not needed.
	@if ! command -v chromium >/dev/null 2>&1; then \
		echo "==> installing chromium with apt-get (a few hundred MB)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends -o DPkg::Lock::Timeout=600 chromium; \
	fi
	@if [ ! -x '$(VERSITYGW)' ]; then \
		echo '==> building $(VERSITYGW_MODULE)@$(VERSITYGW_VERSION) into .tools/bin'; \
		GOBIN='$(TOOLS_BIN)' $(GO) install '$(VERSITYGW_MODULE)@$(VERSITYGW_VERSION)'; \
	fi
	@if [ ! -x '$(KUSTOMIZE)' ]; then \
		echo '==> building $(KUSTOMIZE_MODULE)@$(KUSTOMIZE_VERSION) into .tools/bin'; \
		GOBIN='$(TOOLS_BIN)' $(GO) install '$(KUSTOMIZE_MODULE)@$(KUSTOMIZE_VERSION)'; \
	fi
	@if [ ! -x '$(S5CMD)' ]; then \
		echo '==> building github.com/peak/s5cmd/v2@$(S5CMD_VERSION) into .tools/bin'; \
		tmp="$$(mktemp -d)"; trap 'rm -rf "$$tmp"' EXIT; cd "$$tmp"; \
		$(GO) mod init s5cmd-build >/dev/null 2>&1; \
		$(GO) get 'github.com/peak/s5cmd/v2@$(S5CMD_VERSION)' >/dev/null 2>&1; \
		GOBIN='$(TOOLS_BIN)' $(GO) install github.com/peak/s5cmd/v2; \
	fi

.PHONY: build
build: ## Build the commands into bin/ (with the version, revision and date --version prints)
	$(GO) build -ldflags '$(LDFLAGS)' -o bin/ ./cmd/...

# Static binaries per architecture for the image; go build only rebuilds what changed.
.PHONY: image/binaries
image/binaries:
	@for arch in $(IMAGE_ARCHES); do \
		CGO_ENABLED=0 GOOS=linux GOARCH=$$arch $(GO) build -trimpath -buildvcs=false -ldflags '$(LDFLAGS)' \
			-o '$(IMAGE_DIR)/'$$arch/ ./cmd/enqueuer ./cmd/worker ./cmd/monitor; \
	done

.PHONY: image
image: image/binaries ## Build the container image for linux/amd64 and linux/arm64 with buildah into .state/image/partflow-VERSION.oci.tar (no registry)
	@command -v buildah >/dev/null 2>&1 || { echo 'make image: buildah is missing: run `make tools`'; exit 1; }
	IMAGE='$(IMAGE)' VERSION='$(VERSION)' REVISION='$(REVISION)' BUILD_DATE='$(BUILD_DATE)' \
		IMAGE_DIR='$(IMAGE_DIR)' IMAGE_ARCHES='$(IMAGE_ARCHES)' ./deploy/image/build.sh

.PHONY: chaos
chaos: tools ## Run the chaos scenarios (worker kills, Redis crash and data loss, S3 faults, partition, rolling restart, a task that kills its worker); also part of make test
	$(GO) test -race -count=1 -timeout 20m -run 'TestChaos|TestKilledWorker|TestRedisRestart' -v ./internal/e2e/ $(CHAOS_FLAGS)

.PHONY: soak
soak: tools ## Soak: every fault at once for SOAK (default 30m), migration after migration, each verified
	$(GO) test -count=1 -timeout 0 -run 'TestChaosSoak$$' -v ./internal/e2e/ -chaos.soak $(or $(SOAK),30m) $(CHAOS_FLAGS)

.PHONY: test
test: tools ## Run every test with the race detector (starts its own redis-server and versitygw; builds and checks the image)
	$(GO) test -race -count=1 -timeout 20m ./...

.PHONY: test/short
test/short: tools ## Run every test once, without the race detector (quicker)
	$(GO) test -short -count=1 -timeout 20m ./...

.PHONY: lint
lint: ## Check formatting (gofmt -l must print nothing) and run go vet
	@out="$$(gofmt -l .)"; if [ -n "$$out" ]; then echo 'gofmt wants to change:'; echo "$$out"; exit 1; fi
	$(GO) vet ./...

.PHONY: verify
verify: lint ## lint, then check that `go mod tidy` leaves go.mod and go.sum unchanged
	$(GO) mod tidy
	git diff --exit-code -- go.mod go.sum

.PHONY: demo
demo: tools build ## Start a local stack (redis-server, versitygw, 2 workers), upload sample files, verify them
	@mkdir -p .state/bin
	$(GO) build -o .state/bin/demo ./internal/demo
	.state/bin/demo $(DEMO_FLAGS)

.PHONY: bench
bench: tools build ## Compare partflow with direct minio-go and s5cmd (ratios, Redis commands and CPU per object, worker RSS); measure the enqueue rate and Redis bytes per upload
	@mkdir -p .state/bin
	$(GO) build -o .state/bin/bench ./internal/bench
	$(GO) build -o .state/bin/bench-migrate ./internal/bench/migrate
	.state/bin/bench $(BENCH_FLAGS)
	.state/bin/bench-migrate $(BENCH_MIGRATE_FLAGS)

.PHONY: clean
clean: ## Remove bin/ and .state/ (keeps the tools in .tools/)
	rm -rf bin .state

.PHONY: version
version: ## Print the version (and image tag) a build of this tree gets
	@echo '$(VERSION)'
