# vault-plugin-secrets-jawbone — build, test, run.
PLUGIN      := vault-plugin-secrets-jawbone
VERSION     ?= v0.1.0
MODULE      := github.com/jawbone-vault/vault-plugin-secrets-jawbone
LDFLAGS     := -s -w -X $(MODULE).Version=$(VERSION)
BIN         := $(CURDIR)/bin
PLUGIN_DIR  := $(BIN)/plugins
VAULT_VERSION ?= 1.21.1
VAULT_BIN   := $(CURDIR)/.cache/vault/$(VAULT_VERSION)/vault

export CGO_ENABLED ?= 0

# The e2e suite and the load harness: a Go module of its own (e2e/go.mod), so
# chromedp and the rest of what only they need stay out of the plugin's go.mod.
E2E_DIR     := e2e

FUZZTIME    ?= 30s
# sim: how many seeded fault schedules of the grant lifecycle (`make unit`
# runs 200 under the race detector; this runs them without it, fast)
SIM_SCHEDULES ?= 3000

# bench: the no-op plugin (the floor), Go benchmark runs, benchstat (pinned)
NOOP_PLUGIN := vault-plugin-noop
BENCH_COUNT ?= 6
BENCH_OUT   := $(CURDIR)/.cache/bench
BENCHSTAT_VERSION := v0.0.0-20260908200009-22c9c6c9d4da
BENCHSTAT   := $(CURDIR)/.cache/bin/benchstat
BENCH_GO_BEGIN := <!-- BEGIN make bench-go -->
BENCH_GO_END   := <!-- END make bench-go -->

# release: where the binaries and SHA256SUMS go, and for which GOOS/GOARCH.
DIST        ?= $(CURDIR)/dist/$(VERSION)
PLATFORMS   ?= linux/amd64 linux/arm64 darwin/amd64 darwin/arm64

.PHONY: all build test unit sim fuzz e2e dev vault fmt vet lint release clean bench bench-go bench-scale

all: build

## build: the plugin (into bin/plugins/) and the fake Jawbone (into bin/)
build:
	go build -trimpath -ldflags '$(LDFLAGS)' -o $(PLUGIN_DIR)/$(PLUGIN) ./cmd/$(PLUGIN)
	go build -trimpath -o $(BIN)/fake-jawbone ./cmd/fake-jawbone

## test: everything CI runs — lint, vet, unit tests with the race detector, the fault-schedule simulation, bounded fuzzing, then the real-Vault e2e suite
test: lint vet unit sim fuzz e2e

## unit: fast tests with the SDK harness and the fake Jawbone over httptest
unit:
	CGO_ENABLED=1 go test -race -count=1 ./...

## sim: SIM_SCHEDULES seeded fault schedules of the grant lifecycle (a failure prints its seed: replay with -sim.seed=N)
sim:
	go test -count=1 -run '^TestSimulatedFaultSchedules$$' -sim.schedules=$(SIM_SCHEDULES) -v .

## fuzz: each fuzz target for FUZZTIME (seed corpora in testdata/fuzz run in `unit` too)
fuzz:
	go test -run '^$$' -fuzz '^FuzzParseRedirectURL$$' -fuzztime $(FUZZTIME) .
	go test -run '^$$' -fuzz '^FuzzTokenReply$$' -fuzztime $(FUZZTIME) ./internal/jawbone

## vault: build (or reuse the cached) vault binary from the Go module proxy
vault:
	VAULT_VERSION=$(VAULT_VERSION) scripts/install-vault.sh

## e2e: a real vault server on 127.0.0.1 with the plugin registered by sha256, driven by the vault CLI and Agent (module e2e/)
e2e: build vault
	scripts/install-chromium.sh >/dev/null
	cd $(E2E_DIR) && VAULT_BIN=$(VAULT_BIN) PLUGIN_DIR=$(PLUGIN_DIR) PLUGIN_VERSION=$(VERSION) \
		go test -count=1 -timeout 15m -v ./...

## dev: a local dev Vault with the plugin mounted at jawbone/, against the fake Jawbone (Ctrl-C stops all)
# Run through env, not a shell: make then starts the script itself, and on
# Ctrl-C sees it exit 0 rather than a shell killed by SIGINT ("Interrupt").
dev: build
	env PLUGIN_DIR=$(PLUGIN_DIR) PLUGIN_VERSION=$(VERSION) BIN=$(BIN) scripts/dev.sh

## lint: golangci-lint (pinned, installed into .cache/bin/ by scripts/install-golangci-lint.sh) with .golangci.yml, on the plugin's module and on e2e/ (the load harness included)
lint:
	@lint="$$(scripts/install-golangci-lint.sh | tail -n1)" && "$$lint" run ./... && cd $(E2E_DIR) && "$$lint" run ./...

## release: cross-compile the plugin for PLATFORMS into dist/<version>/ (stamped, CGO off, -trimpath, reproducible) with SHA256SUMS
release:
	@case '$(VERSION)' in v[0-9]*.[0-9]*.[0-9]*) ;; *) echo "release: VERSION=$(VERSION) is not a vX.Y.Z semantic version (vault plugin register -version needs one)" >&2; exit 1;; esac
	@mkdir -p '$(DIST)' && rm -f '$(DIST)'/$(PLUGIN)_* '$(DIST)'/SHA256SUMS
	@set -e; for p in $(PLATFORMS); do \
		os=$${p%/*}; arch=$${p#*/}; out=$(PLUGIN)_$(VERSION)_$${os}_$${arch}; \
		echo "release: $$out"; \
		GOOS=$$os GOARCH=$$arch CGO_ENABLED=0 go build -trimpath -buildvcs=false -ldflags '$(LDFLAGS)' -o '$(DIST)'/$$out ./cmd/$(PLUGIN); \
	done
	@cd '$(DIST)' && if command -v sha256sum >/dev/null; then sha256sum $(PLUGIN)_*; else shasum -a 256 $(PLUGIN)_*; fi > SHA256SUMS.tmp && mv SHA256SUMS.tmp SHA256SUMS
	@echo "release: $(DIST)/SHA256SUMS" && cat '$(DIST)'/SHA256SUMS

## bench: the load harness against a real vault server (creds vs a no-op plugin vs KV, refresh storm, cold start), then bench-go; both write into BENCHMARKS.md
bench: build vault
	go build -trimpath -o $(BIN)/bench/$(NOOP_PLUGIN) ./bench/noop-plugin
	cd $(E2E_DIR) && VAULT_BIN=$(VAULT_BIN) PLUGIN_DIR=$(PLUGIN_DIR) PLUGIN_VERSION=$(VERSION) NOOP_PLUGIN_BIN=$(BIN)/bench/$(NOOP_PLUGIN) \
		go test -tags bench -count=1 -run '^TestLoad$$' -v -timeout 20m .
	$(MAKE) --no-print-directory bench-go

## bench-scale: the scale harness against a real vault server: fills jawbone/ to each of SCALE_N creds (default 1000,100000,1000000) and measures fill rate, latencies, reads, the background tick's CPU, reload and memory at each; writes into BENCHMARKS.md (about 2 h on 2 cores; SCALE_N=1000,10000 takes 20 min)
bench-scale: build vault
	cd $(E2E_DIR) && VAULT_BIN=$(VAULT_BIN) PLUGIN_DIR=$(PLUGIN_DIR) PLUGIN_VERSION=$(VERSION) \
		go test -tags bench -count=1 -run '^TestScale$$' -v -timeout 8h .

## bench-go: the in-process Go benchmarks, BENCH_COUNT runs each, summarised by benchstat (pinned, into .cache/bin/) into BENCHMARKS.md
bench-go:
	@mkdir -p $(BENCH_OUT)
	@test -x $(BENCHSTAT) || GOBIN=$(CURDIR)/.cache/bin go install golang.org/x/perf/cmd/benchstat@$(BENCHSTAT_VERSION)
	go test -run '^$$' -bench . -benchmem -count $(BENCH_COUNT) . > $(BENCH_OUT)/go.txt || { cat $(BENCH_OUT)/go.txt; exit 1; }
	cd $(BENCH_OUT) && $(BENCHSTAT) go.txt | tee benchstat.txt
	@{ echo "Generated by \`make bench-go\` on $$(date -u '+%Y-%m-%d %H:%M UTC'): \`go test -run '^\$$' -bench . -benchmem -count $(BENCH_COUNT) .\` | benchstat; $$(getconf _NPROCESSORS_ONLN) cores, $$(go version | cut -d' ' -f3), $$(uptime | sed 's/.*load av/load av/') at the end."; \
	   echo; echo '```text'; cat $(BENCH_OUT)/benchstat.txt; echo '```'; } > $(BENCH_OUT)/go.md
	@touch BENCHMARKS.md; grep -qF '$(BENCH_GO_BEGIN)' BENCHMARKS.md || printf '\n$(BENCH_GO_BEGIN)\n$(BENCH_GO_END)\n' >> BENCHMARKS.md
	@awk -v f='$(BENCH_OUT)/go.md' 'index($$0, "$(BENCH_GO_BEGIN)") { print; while ((getline l < f) > 0) print l; skip = 1; next } \
		index($$0, "$(BENCH_GO_END)") { skip = 0 } !skip' BENCHMARKS.md > BENCHMARKS.md.tmp && mv BENCHMARKS.md.tmp BENCHMARKS.md
	@echo "bench-go: wrote the benchstat table into BENCHMARKS.md"

## vet: go vet on the plugin's module, and on e2e/ without and with the load harness (-tags bench)
vet:
	go vet ./...
	cd $(E2E_DIR) && go vet ./... && go vet -tags bench ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf $(BIN)
