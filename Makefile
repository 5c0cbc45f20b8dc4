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

FUZZTIME    ?= 30s

# release: where the binaries and SHA256SUMS go, and for which GOOS/GOARCH.
DIST        ?= $(CURDIR)/dist/$(VERSION)
PLATFORMS   ?= linux/amd64 linux/arm64 darwin/amd64 darwin/arm64

.PHONY: all build test unit fuzz e2e dev vault fmt vet lint release clean

all: build

## build: the plugin (into bin/plugins/) and the fake Jawbone (into bin/)
build:
	go build -trimpath -ldflags '$(LDFLAGS)' -o $(PLUGIN_DIR)/$(PLUGIN) ./cmd/$(PLUGIN)
	go build -trimpath -o $(BIN)/fake-jawbone ./cmd/fake-jawbone

## test: everything CI runs — lint, vet, unit tests with the race detector, bounded fuzzing, then the real-Vault e2e suite
test: lint vet unit fuzz e2e

## unit: fast tests with the SDK harness and the fake Jawbone over httptest
unit:
	CGO_ENABLED=1 go test -race -count=1 ./...

## fuzz: each fuzz target for FUZZTIME (seed corpora in testdata/fuzz run in `unit` too)
fuzz:
	go test -run '^$$' -fuzz '^FuzzParseRedirectURL$$' -fuzztime $(FUZZTIME) .
	go test -run '^$$' -fuzz '^FuzzTokenReply$$' -fuzztime $(FUZZTIME) .

## vault: build (or reuse the cached) vault binary from the Go module proxy
vault:
	VAULT_VERSION=$(VAULT_VERSION) scripts/install-vault.sh

## e2e: a real vault server on 127.0.0.1 with the plugin registered by sha256, driven by the vault CLI and Agent
e2e: build vault
	VAULT_BIN=$(VAULT_BIN) PLUGIN_DIR=$(PLUGIN_DIR) PLUGIN_VERSION=$(VERSION) \
		go test -tags e2e -count=1 -timeout 15m -v ./e2e/...

## dev: a local dev Vault with the plugin mounted at jawbone/, against the fake Jawbone (Ctrl-C stops all)
dev: build
	PLUGIN_DIR=$(PLUGIN_DIR) PLUGIN_VERSION=$(VERSION) BIN=$(BIN) scripts/dev.sh

## lint: golangci-lint (pinned, installed into .cache/bin/ by scripts/install-golangci-lint.sh) with .golangci.yml, e2e code included
lint:
	@lint="$$(scripts/install-golangci-lint.sh | tail -n1)" && "$$lint" run ./...

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

vet:
	go vet ./...
	go vet -tags e2e ./e2e/...

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf $(BIN)
