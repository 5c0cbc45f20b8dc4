# vault-plugin-secrets-jawbone — build, test, run.
PLUGIN      := vault-plugin-secrets-jawbone
VERSION     ?= v0.1.0
MODULE      := github.com/jawbone-vault/vault-plugin-secrets-jawbone
LDFLAGS     := -s -w -X $(MODULE).Version=$(VERSION)
BIN         := $(CURDIR)/bin
PLUGIN_DIR  := $(BIN)/plugins

export CGO_ENABLED ?= 0

.PHONY: all build test unit e2e dev vault fmt vet clean

all: build

## build: the plugin (into bin/plugins/) and the fake Jawbone (into bin/)
build:
	go build -trimpath -ldflags '$(LDFLAGS)' -o $(PLUGIN_DIR)/$(PLUGIN) ./cmd/$(PLUGIN)
	go build -trimpath -o $(BIN)/fake-jawbone ./cmd/fake-jawbone

## test: everything CI runs — vet, unit tests with the race detector, then the real-Vault e2e suite
test: vet unit e2e

## unit: fast tests with the SDK harness and the fake Jawbone over httptest
unit:
	CGO_ENABLED=1 go test -race -count=1 ./...

## vault: build (or reuse the cached) vault binary from the Go module proxy
vault:
	scripts/install-vault.sh

## e2e: a real vault server on 127.0.0.1 with the plugin registered by sha256, driven by the vault CLI and Agent
e2e: build
	VAULT_BIN="$$(scripts/install-vault.sh | tail -n1)" PLUGIN_DIR=$(PLUGIN_DIR) PLUGIN_VERSION=$(VERSION) \
		go test -tags e2e -count=1 -timeout 15m -v ./e2e/...

## dev: a local dev Vault with the plugin mounted at jawbone/, against the fake Jawbone (Ctrl-C stops all)
dev: build
	PLUGIN_DIR=$(PLUGIN_DIR) PLUGIN_VERSION=$(VERSION) BIN=$(BIN) scripts/dev.sh

vet:
	go vet ./...
	go vet -tags e2e ./e2e/...

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf $(BIN)
