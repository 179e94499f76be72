# Keyport's build. Everything a target needs is built from the Go module proxy
# (or the npm registry) into bin/ on first use, so a fresh clone needs only Go.

SHELL := /usr/bin/env bash -o pipefail
.SHELLFLAGS := -ec
.DEFAULT_GOAL := help

BIN ?= $(CURDIR)/bin
TESTBIN ?= $(BIN)/testbin

CONTROLLER_TOOLS_VERSION ?= v0.21.0
CONTROLLER_GEN := $(BIN)/controller-gen

# Files that `make manifests generate` writes. They are committed, and
# `make verify-generated` fails when they do not match the code.
GENERATED := api/v1alpha1/zz_generated.deepcopy.go api/v1alpha1/zz_generated.presets.go README.md config/crd/bases config/rbac/role.yaml

GO_TEST_FLAGS ?=

# Terraform 1.11 or later, for the provider's acceptance tests, its docs and
# the demo: terraform from PATH, or else OpenTofu built from the Go module
# proxy into bin/ (`make terraform` shows which).
OPENTOFU_VERSION ?= v1.12.6
TERRAFORM ?= $(or $(shell command -v terraform 2>/dev/null),$(BIN)/tofu)
export TERRAFORM
export TF_ACC_TERRAFORM_PATH ?= $(TERRAFORM)
# OpenTofu reads a source address without a host as registry.opentofu.org's,
# so the acceptance tests announce their in-process provider there.
export TF_ACC_PROVIDER_HOST ?= $(if $(filter $(BIN)/tofu,$(TERRAFORM)),registry.opentofu.org)
# A CLI configuration that the environment names but that does not exist
# makes OpenTofu print a warning on stdout, where terraform-plugin-testing
# reads `tofu version`, and every acceptance test fails. An empty one (what a
# missing file amounts to) instead.
ifneq ($(TF_CLI_CONFIG_FILE),)
ifeq ($(wildcard $(TF_CLI_CONFIG_FILE)),)
export TF_CLI_CONFIG_FILE := /dev/null
endif
endif

##@ General

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make \033[36m<target>\033[0m\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) }' $(MAKEFILE_LIST)

##@ Development

.PHONY: manifests
manifests: $(CONTROLLER_GEN) ## Generate the Preset type and README preset table from shared/dialect's table, then CRDs and RBAC from the code markers.
	go run ./shared/dialect/presetgen
	$(CONTROLLER_GEN) crd paths=./api/... output:crd:artifacts:config=config/crd/bases
	$(CONTROLLER_GEN) rbac:roleName=keyport-operator paths=./operator/... output:rbac:artifacts:config=config/rbac

.PHONY: generate
generate: $(CONTROLLER_GEN) ## Generate deep-copy code for the API types.
	$(CONTROLLER_GEN) object paths=./api/...

.PHONY: fmt
fmt: ## Format the code.
	gofmt -w $$(git ls-files '*.go')

.PHONY: lint
lint: verify-generated verify-docs helm-lint ## gofmt, go vet, helm lint --strict and the stale-generated-files checks.
	@unformatted=$$(gofmt -l $$(git ls-files --cached --others --exclude-standard '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt would change:"; echo "$$unformatted"; exit 1; fi
	go vet ./...

.PHONY: verify-generated
verify-generated: ## Fail when generated files do not match the code.
	@sum() { find $(GENERATED) -type f -print0 | sort -z | xargs -0 sha256sum; }; \
	before=$$(sum); \
	$(MAKE) -s manifests generate >/dev/null; \
	after=$$(sum); \
	if [ "$$before" != "$$after" ]; then \
	  echo "Generated files were stale and have now been regenerated:"; \
	  diff <(echo "$$before") <(echo "$$after") || true; \
	  echo "Run 'make manifests generate' and commit the result."; exit 1; \
	fi

.PHONY: verify-docs
verify-docs: terraform ## Fail when terraform-provider/docs does not match the provider's schema and examples/.
	terraform-provider/gen-docs.sh --check

.PHONY: docs
docs: terraform ## Generate the Terraform provider docs (tfplugindocs, built from the module proxy) into terraform-provider/docs.
	terraform-provider/gen-docs.sh

##@ Build

.PHONY: terraform
terraform: $(TERRAFORM) ## Use terraform from PATH, or build OpenTofu into bin/ when there is none.
	@echo "==> terraform for tests, docs and the demo: $(TERRAFORM)"

# OpenTofu's go.mod has a replace directive, which `go install pkg@version`
# refuses: the module is fetched from the proxy and built inside its own
# folder of the module cache, where its go.mod (and the replace) applies.
$(BIN)/tofu:
	@echo "==> building OpenTofu $(OPENTOFU_VERSION) from the Go module proxy into $(BIN) (a few minutes on a cold cache)"
	@mkdir -p $(BIN)
	dir=$$(go mod download -json github.com/opentofu/opentofu@$(OPENTOFU_VERSION) | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$$/\1/p'); \
	  cd "$$dir" && go build -trimpath -ldflags "-X github.com/opentofu/opentofu/version.dev=no" -o $(BIN)/tofu ./cmd/tofu
	@echo "==> built $(BIN)/tofu"

.PHONY: tofu
tofu: $(BIN)/tofu ## Build OpenTofu from the Go module proxy into bin/ (only when missing), for the provider's tests under OpenTofu.

.PHONY: build
build: ## Build the operator, kubectl-keyport, the sandbox, the provider, the demo and the example workload into bin/.
	@echo "==> go build: operator, kubectl-keyport, sandbox, terraform provider, demo, example workload"
	go build -o $(BIN)/keyport-operator ./operator
	go build -o $(BIN)/kubectl-keyport ./operator/cmd/kubectl-keyport
	go build -o $(BIN)/keyport-sandbox ./shared/testsupport/sandbox/cmd/keyport-sandbox
	go build -o $(BIN)/terraform-provider-keyport ./terraform-provider
	go build -o $(BIN)/keyport-demo ./examples/demo
	go build -o $(BIN)/keyport-ingest-example ./examples/ingest

# The images without Docker: go-containerregistry assembles each from a
# static binary (go build), CA certificates and an SBOM, reproducibly (the
# same commit gives the same digests), as OCI archives that
# `ctr -n k8s.io images import bin/images/NAME.tar` loads as
# keyport.dev/NAME:dev. The Dockerfile describes the same operator image for
# people with Docker.
.PHONY: images
images: ## Build the operator, sandbox, workload and pause images as OCI archives in bin/images (no Docker needed).
	go run ./shared/testsupport/imagebuild/cmd/keyport-image -out $(BIN)/images

IMG ?= keyport-operator:dev

.PHONY: docker-build
docker-build: ## Build the operator image (needs a Docker engine; `make images` needs none).
	docker build -t $(IMG) .

##@ Release

# `make release-snapshot` runs .goreleaser.yaml offline: the provider zips,
# their SHA256SUMS and registry manifest, the operator and kubectl-keyport
# archives, for linux amd64/arm64 and darwin arm64, into bin/dist. Nothing is
# tagged, signed or published. goreleaser is built from the Go module proxy.
GORELEASER_VERSION ?= v2.15.1
# .goreleaser.yaml's dist.
RELEASE_DIST := $(CURDIR)/bin/dist
GORELEASER := $(BIN)/goreleaser

.PHONY: goreleaser
goreleaser: $(GORELEASER) ## Build goreleaser from the Go module proxy into bin/ (only when missing).

$(GORELEASER):
	@echo "==> building goreleaser $(GORELEASER_VERSION) from the Go module proxy into $(BIN) (about 10 minutes on a cold cache on 2 cores)"
	@start=$$(date +%s); GOBIN=$(BIN) go install github.com/goreleaser/goreleaser/v2@$(GORELEASER_VERSION); \
	  echo "==> built $(GORELEASER) in $$(( $$(date +%s) - start ))s"

.PHONY: release-snapshot
release-snapshot: $(GORELEASER) $(HELM) ## Build every release archive (provider zips, SHA256SUMS, manifest, operator, kubectl-keyport, the packaged chart) into bin/dist with goreleaser --snapshot; publishes nothing.
	@echo "==> goreleaser release --snapshot --clean (into bin/dist; nothing is published)"
	@start=$$(date +%s); $(GORELEASER) release --snapshot --clean; \
	  echo "==> goreleaser snapshot in $$(( $$(date +%s) - start ))s"
	@# goreleaser lists the registry manifest in SHA256SUMS and uploads it
	@# only when it publishes: the snapshot gets it beside the zips too.
	@version=$$(sed -n 's/.*"version":"\([^"]*\)".*/\1/p' $(RELEASE_DIST)/metadata.json); \
	  cp terraform-provider/terraform-registry-manifest.json $(RELEASE_DIST)/terraform-provider-keyport_$${version}_manifest.json
	@$(MAKE) -s helm-package
	@echo "==> $(RELEASE_DIST):"; cd $(RELEASE_DIST) && ls -1 *.zip *.tar.gz *SHA256SUMS *_manifest.json charts/*.tgz

# The provider's tests and the demo install the provider from a release's
# zip through a filesystem mirror. This builds only this platform's zip, named
# and laid out as goreleaser names and lays out the release's (the binary
# terraform-provider-keyport_vVERSION alone in
# terraform-provider-keyport_VERSION_OS_ARCH.zip, with
# terraform-provider-keyport_VERSION_SHA256SUMS and _manifest.json beside
# it), in seconds instead of the minutes of the whole matrix. VERSION is
# goreleaser's snapshot version: the release after the last tag (0.0.1 before
# the first).
PROVIDER_DIST ?= $(BIN)/provider-dist
export KEYPORT_PROVIDER_DIST ?= $(PROVIDER_DIST)

.PHONY: provider-archive
provider-archive: ## Build this platform's provider zip, SHA256SUMS and manifest into bin/provider-dist, as the release names them.
	@tag=$$(git describe --tags --abbrev=0 2>/dev/null || echo v0.0.0); tag=$${tag#v}; tag=$${tag%%-*}; \
	  IFS=. read -r major minor patch <<< "$$tag"; version=$$major.$$minor.$$((patch + 1)); \
	  os=$$(go env GOOS); arch=$$(go env GOARCH); name=terraform-provider-keyport_$$version; \
	  echo "==> provider archive $${name}_$${os}_$$arch.zip into $(PROVIDER_DIST)"; \
	  rm -rf $(PROVIDER_DIST); mkdir -p $(PROVIDER_DIST)/build; \
	  CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=$$version" -o $(PROVIDER_DIST)/build/terraform-provider-keyport_v$$version ./terraform-provider; \
	  (cd $(PROVIDER_DIST)/build && zip -q -X ../$${name}_$${os}_$$arch.zip terraform-provider-keyport_v$$version); \
	  rm -rf $(PROVIDER_DIST)/build; \
	  cp terraform-provider/terraform-registry-manifest.json $(PROVIDER_DIST)/$${name}_manifest.json; \
	  (cd $(PROVIDER_DIST) && sha256sum $${name}_$${os}_$$arch.zip $${name}_manifest.json > $${name}_SHA256SUMS)

# The helm command is a tool of this module (go.mod's `tool` line): it is
# built with the same Helm library and Kubernetes packages the tests install
# the chart with, so it costs seconds where a separate `go install` would
# compile a second copy of them.
HELM := $(BIN)/helm
HELM_VERSION ?= $(shell go list -m -f '{{.Version}}' helm.sh/helm/v4)
CHART := config/helm/keyport

.PHONY: helm
helm: $(HELM) ## Build the helm command (a tool of go.mod, from the Go module proxy) into bin/ (only when missing).

$(HELM):
	@echo "==> building helm $(HELM_VERSION) (go.mod tool) into $(BIN)"
	go build -o $(HELM) -ldflags "-X helm.sh/helm/v4/internal/version.version=$(HELM_VERSION)" helm.sh/helm/v4/cmd/helm

# values.schema.json refuses unknown keys, so --strict with the optional
# objects on also checks that their values are declared.
.PHONY: helm-lint
helm-lint: $(HELM) ## helm lint --strict the chart, with its defaults and with the ServiceMonitor, alerts and dashboard on.
	@echo "==> helm lint --strict $(CHART)"
	@$(HELM) lint --strict $(CHART) 2>&1 | grep -v 'symbolic link'
	@$(HELM) lint --strict $(CHART) --set metrics.serviceMonitor.enabled=true,metrics.prometheusRule.enabled=true,metrics.grafanaDashboard.enabled=true 2>&1 | grep -v 'symbolic link'

.PHONY: helm-package
helm-package: helm-lint ## Package the chart (CRDs, values schema, dashboard) into bin/dist/charts with helm package.
	@mkdir -p $(RELEASE_DIST)/charts
	$(HELM) package $(CHART) --destination $(RELEASE_DIST)/charts 2>&1 | grep -v 'symbolic link'

##@ Demo

NODE_STATE ?= $(CURDIR)/.node

.PHONY: node
node: testbin nodebin images ## Start a single-node cluster (kubelet, containerd, runc) in its own network namespace, to look around with kubectl.
	go build -o $(BIN)/keyport-node ./shared/testsupport/testenv/node/cmd/keyport-node
	$(BIN)/keyport-node start -state-dir $(NODE_STATE)

.PHONY: node-stop
node-stop: ## Stop the node of `make node` and check that nothing of it is left.
	go build -o $(BIN)/keyport-node ./shared/testsupport/testenv/node/cmd/keyport-node
	$(BIN)/keyport-node stop -state-dir $(NODE_STATE)

# The demo runs on a node where one can run (Linux, root): only then does it
# need the node's binaries and the images.
DEMO_NODE := $(if $(filter 0,$(shell id -u)),nodebin images)

.PHONY: demo
demo: build provider-archive testbin terraform $(DEMO_NODE) ## Run Keyport locally: a node (or a control plane), cert-manager, sandbox, operator, examples/demo; Ctrl-C stops it all.
	$(BIN)/keyport-demo -bin $(BIN) -state-dir $(CURDIR)/.demo

# The unattended run uses a kubelet that syncs every 10 s to stay short.
DEMO_CHECK = $(BIN)/keyport-demo -check -kubelet-sync 10s -bin $(BIN) -state-dir $(CURDIR)/.demo

.PHONY: demo-check
demo-check: build provider-archive testbin terraform $(DEMO_NODE) ## The demo scenario unattended; fails when a step fails.
	$(DEMO_CHECK)

##@ Test

# The kubectl-keyport tests run `kubectl keyport` through kubectl's plugin
# discovery; without a kubectl on PATH they use this one.
TESTBIN_KUBECTL := $(if $(shell command -v kubectl 2>/dev/null),,$(TESTBIN)/kubectl)

.PHONY: testbin
testbin: $(TESTBIN)/kube-apiserver $(TESTBIN)/etcd $(TESTBIN_KUBECTL) ## Build kube-apiserver and etcd (and kubectl, when none is on PATH) for tests (only when missing).

$(TESTBIN)/kube-apiserver $(TESTBIN)/etcd:
	bash shared/testsupport/testenv/testbin/build.sh $(@F) $(TESTBIN)

$(TESTBIN)/kubectl:
	bash shared/testsupport/testenv/testbin/build.sh kubectl $(TESTBIN)

# The rest of a real single-node cluster, built like testbin. Each group is
# one build (`&:`: one run of its recipe makes all its files), so a parallel
# make never builds a group twice.
KUBE_NODE_BINS := $(addprefix $(TESTBIN)/,kubelet kube-controller-manager kube-scheduler kube-proxy)
CONTAINERD_BINS := $(addprefix $(TESTBIN)/,containerd containerd-shim-runc-v2 ctr)
CNI_BINS := $(addprefix $(TESTBIN)/cni/,bridge host-local loopback portmap)
NODEBIN := $(KUBE_NODE_BINS) $(CONTAINERD_BINS) $(TESTBIN)/runc $(CNI_BINS)

.PHONY: nodebin
nodebin: node-deps $(NODEBIN) ## Build kubelet, kube-controller-manager, kube-scheduler, kube-proxy, containerd, runc and CNI plugins for the test node (only when missing).

.PHONY: node-deps
node-deps: ## Check the Debian packages the test node needs to build and run (installs them as root).
	@bash shared/testsupport/testenv/testbin/debian-deps.sh

$(KUBE_NODE_BINS) &:
	bash shared/testsupport/testenv/testbin/build.sh kube-node $(TESTBIN)

$(CONTAINERD_BINS) &:
	bash shared/testsupport/testenv/testbin/build.sh containerd $(TESTBIN)

# runc is compiled with cgo against libseccomp.
$(TESTBIN)/runc: | node-deps
	bash shared/testsupport/testenv/testbin/build.sh runc $(TESTBIN)

$(CNI_BINS) &:
	bash shared/testsupport/testenv/testbin/build.sh cni $(TESTBIN)

OIDC_PEER := shared/token/testdata/oidc

.PHONY: oidc-deps
oidc-deps: $(OIDC_PEER)/node_modules/.package-lock.json ## Install oidc-provider (npm) for the third-party token tests.

$(OIDC_PEER)/node_modules/.package-lock.json: $(OIDC_PEER)/package-lock.json
	@echo "==> installing oidc-provider from the npm registry into $(OIDC_PEER)"
	npm ci --prefix $(OIDC_PEER) --no-audit --no-fund

# `make test` builds everything first, then runs three lanes at once. Their
# time goes to waiting for real processes (token lifetimes, a kubelet's sync,
# terraform) far more than to the cores, and the short soak pass alone takes
# as long as all the other packages together, so one after the other would
# leave the machine idle most of the time. The lanes call their commands
# directly, without their targets' prerequisites: those are built, and
# rebuilding one (the provider archive) while another lane reads it would
# race. Every line of a lane's output starts with its name.
#
#   soak  the short soak pass (every fault once; -v: each fault as it starts
#         and ends, and the report)
#   go    every other package (TF_ACC=1: the provider's acceptance tests with
#         the real terraform binary from PATH, the provider in-process), then
#         the provider's tests again with OpenTofu, then each fuzz target
#         briefly (on one core)
#   demo  the README's demo, unattended
SOAK_PKG := ./shared/testsupport/soak/
TEST_LANES := test-lane-soak test-lane-go test-lane-demo
lane = 2>&1 | sed -u 's/^/[$(1)] /'

.PHONY: test
test: lint testbin nodebin images oidc-deps terraform tofu promtool provider-archive build ## Run every test against the real API server and a real node (builds what is missing).
	@echo "==> three lanes at once (integration tests use $(TESTBIN)): [soak] the short soak pass; [go] every other package, the provider's tests with OpenTofu, the fuzz smoke; [demo] the README's demo, unattended"
	@start=$$(date +%s); $(MAKE) -s -j3 --no-print-directory $(TEST_LANES); \
	  echo "==> all lanes passed in $$(( $$(date +%s) - start ))s"

.PHONY: $(TEST_LANES)
test-lane-soak:
	@echo "[soak] ==> go test $(SOAK_PKG)"
	@start=$$(date +%s); go test -count=1 -v -timeout 30m $(GO_TEST_FLAGS) $(SOAK_PKG) $(call lane,soak); \
	  echo "[soak] ==> passed in $$(( $$(date +%s) - start ))s"

test-lane-go:
	@echo "[go] ==> go test ./... but $(SOAK_PKG)"
	@start=$$(date +%s); TF_ACC=1 go test -count=1 -timeout 30m $(GO_TEST_FLAGS) $$(go list ./... | grep -v '/shared/testsupport/soak$$') $(call lane,go); \
	  echo "[go] ==> passed in $$(( $$(date +%s) - start ))s"
	@{ $(TOFU_TESTS); } $(call lane,tofu)
	@$(MAKE) -s fuzz FUZZTIME=$(SMOKE_FUZZTIME) FUZZ_FLAGS="$(SMOKE_FUZZ_FLAGS)" $(call lane,fuzz)

test-lane-demo:
	@echo "[demo] ==> the README's demo, unattended"
	@start=$$(date +%s); $(DEMO_CHECK) $(call lane,demo); \
	  echo "[demo] ==> passed in $$(( $$(date +%s) - start ))s"

# The provider's tests again with OpenTofu: every acceptance test (the
# in-process provider driven by the tofu binary) and the released-provider
# install from the filesystem mirror. When terraform is not on PATH the
# provider's tests already ran with OpenTofu, and this is skipped.
TOFU_TESTS = if [ "$(TERRAFORM)" = "$(BIN)/tofu" ]; then echo "==> the provider's tests already ran with OpenTofu"; exit 0; fi; \
	  echo "==> the provider's acceptance tests with OpenTofu $(OPENTOFU_VERSION) ($(BIN)/tofu)"; \
	  TF_ACC=1 TF_ACC_TERRAFORM_PATH=$(BIN)/tofu TF_ACC_PROVIDER_HOST=registry.opentofu.org \
	    go test -count=1 -timeout 20m $(GO_TEST_FLAGS) ./terraform-provider/...

.PHONY: test-tofu
test-tofu: tofu testbin provider-archive ## Run the Terraform provider's acceptance tests with OpenTofu (built from the Go module proxy).
	@$(TOFU_TESTS)

# Fuzz targets: package and function. `make test` runs each briefly; `make
# fuzz` longer (FUZZTIME=10m make fuzz for a soak). The parsers of platform
# answers, the certificate decoders, the user templates of output Secrets and
# of the generic REST driver, and the management-URL guard.
FUZZ_TARGETS := ./shared/token:FuzzParseResponse ./shared/certs:FuzzDecodePKCS12 ./shared/certs:FuzzDecodePKCS12Cost ./shared/certs:FuzzDecodePEM \
	./shared/tokensecret:FuzzRender ./shared/safetemplate:FuzzTemplateCost ./shared/drivers/restdriver:FuzzTemplates ./shared/drivers:FuzzRequestURL
FUZZTIME ?= 1m
SMOKE_FUZZTIME ?= 5s
# Extra flags of each fuzz run.
FUZZ_FLAGS ?=
# The smoke in `make test` fuzzes on one core, leaving the other to the
# lanes beside it, and does not minimize the inputs that find new coverage:
# minimizing one may take the whole 5 s (60 s is its default budget), which
# left a target at a few hundred executions and, on a loaded machine, failed
# it with "context deadline exceeded". Without it each target runs tens of
# thousands of inputs. A failing input is still reported and saved.
SMOKE_FUZZ_FLAGS ?= -parallel=1 -fuzzminimizetime=1x

.PHONY: fuzz
fuzz: ## Run every fuzz target for FUZZTIME each and print the executions per target.
	@report=$$(mktemp); \
	for target in $(FUZZ_TARGETS); do \
	  pkg=$${target%%:*}; fn=$${target##*:}; \
	  echo "==> fuzz $$fn in $$pkg for $(FUZZTIME)"; \
	  out=$$(go test -run '^$$' -fuzz "^$$fn$$" -fuzztime $(FUZZTIME) $(FUZZ_FLAGS) $$pkg 2>&1) || { echo "$$out"; exit 1; }; \
	  execs=$$(echo "$$out" | grep -o 'execs: [0-9]*' | tail -1 | cut -d' ' -f2); \
	  printf '%-50s %12s executions, no failure\n' "$$pkg $$fn" "$${execs:-?}" >> $$report; \
	done; \
	echo "==> fuzz summary ($(FUZZTIME) each)"; cat $$report; rm -f $$report

##@ Reliability

SOAK_CLIENTS ?= 300
SOAK_LIFETIME ?= 60s
SOAK_DURATION ?= 20m
SOAK_REPORT ?= $(CURDIR)/soak-report.md

.PHONY: soak
soak: testbin ## The long fault soak (SOAK_CLIENTS, SOAK_LIFETIME, SOAK_DURATION); the report goes to SOAK_REPORT for RELIABILITY.md.
	KEYPORT_SOAK_CLIENTS=$(SOAK_CLIENTS) KEYPORT_SOAK_LIFETIME=$(SOAK_LIFETIME) KEYPORT_SOAK_DURATION=$(SOAK_DURATION) KEYPORT_SOAK_REPORT=$(SOAK_REPORT) \
	  go test -count=1 -run '^TestSoak$$' -v -timeout 3h ./shared/testsupport/soak/

##@ Benchmarks

BENCH_SIZES ?= 100,1000
BENCH_LIFETIME ?= 60s
BENCH_LIFETIMES ?= 3
BENCH_OPERATOR_ARGS ?=
# Secrets of 100 KiB that are not Keyport's, for the foreign-Secrets phase;
# 0 skips it.
BENCH_FOREIGN_SECRETS ?= 2000
# Fraction (the default) or Latest (with a retry margin as long as the budget).
BENCH_REFRESH_STRATEGY ?=
BENCH_KIT ?= $(BIN)/bench-kit

.PHONY: bench
bench: testbin ## Run N ApiClients against the sandbox and print the figures BENCHMARKS.md reports (requests per token, lateness, API writes, throughput, memory), then the shard split.
	KEYPORT_BENCH_SIZES=$(BENCH_SIZES) KEYPORT_BENCH_LIFETIME=$(BENCH_LIFETIME) KEYPORT_BENCH_LIFETIMES=$(BENCH_LIFETIMES) KEYPORT_BENCH_OPERATOR_ARGS="$(BENCH_OPERATOR_ARGS)" \
	  KEYPORT_BENCH_FOREIGN_SECRETS=$(BENCH_FOREIGN_SECRETS) KEYPORT_BENCH_REFRESH_STRATEGY=$(BENCH_REFRESH_STRATEGY) \
	  go test -run '^$$' -bench BenchmarkApiClients -benchtime 1x -timeout 2h ./operator/controllers/apiclient/
	go test -run '^$$' -bench BenchmarkShardSplit -benchtime 1x -timeout 30m ./operator/

# The kit runs BenchmarkApiClients on a machine without Go: the compiled
# benchmark, the operator, kube-apiserver, etcd and the CRDs in one folder,
# and run.sh, which points the benchmark at them. Copy the folder anywhere
# (Linux amd64) and run it: $(BENCH_KIT)/run.sh, settings as
# KEYPORT_BENCH_* variables (see BENCHMARKS.md).
.PHONY: bench-kit
bench-kit: testbin ## Build the benchmark and everything it runs into bin/bench-kit/, to run with bin/bench-kit/run.sh where there is no Go toolchain.
	rm -rf $(BENCH_KIT) && mkdir -p $(BENCH_KIT)/config/crd $(BENCH_KIT)/cert-manager-crds
	go test -c -o $(BENCH_KIT)/apiclient.test ./operator/controllers/apiclient/
	go build -o $(BENCH_KIT)/keyport-operator ./operator
	cp $(TESTBIN)/kube-apiserver $(TESTBIN)/etcd $(BENCH_KIT)/
	cp -r config/crd/bases $(BENCH_KIT)/config/crd/
	cp "$$(go list -m -f '{{.Dir}}' github.com/cert-manager/cert-manager)"/deploy/crds/*.yaml $(BENCH_KIT)/cert-manager-crds/
	chmod -R u+w $(BENCH_KIT)
	cp shared/testsupport/benchkit/run.sh $(BENCH_KIT)/run.sh
	@echo "==> $(BENCH_KIT): run $(BENCH_KIT)/run.sh (KEYPORT_BENCH_SIZES=1000,10000 and the other KEYPORT_BENCH_* variables apply)"

# promtool checks and unit-tests the alert rules of config/prometheus/alerts
# (config/alerts_test.go); its version is the Prometheus Go module's.
PROMETHEUS_VERSION ?= v0.316.0
PROMTOOL := $(BIN)/promtool

.PHONY: promtool
promtool: $(PROMTOOL) ## Build promtool from the Go module proxy into bin/ (only when missing).

$(PROMTOOL):
	@echo "==> building promtool (github.com/prometheus/prometheus $(PROMETHEUS_VERSION)) from the Go module proxy into $(BIN) (a few minutes on a cold cache)"
	GOBIN=$(BIN) go install github.com/prometheus/prometheus/cmd/promtool@$(PROMETHEUS_VERSION)
	@echo "==> built $(PROMTOOL) (Prometheus module $(PROMETHEUS_VERSION))"

$(CONTROLLER_GEN):
	@echo "==> building controller-gen $(CONTROLLER_TOOLS_VERSION) from the Go module proxy"
	GOBIN=$(BIN) go install sigs.k8s.io/controller-tools/cmd/controller-gen@$(CONTROLLER_TOOLS_VERSION)
