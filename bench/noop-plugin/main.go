// Command noop-plugin is the floor for the load harness (make bench): an
// external Vault secrets plugin, served exactly like
// vault-plugin-secrets-jawbone (plugin.ServeMultiplex over gRPC), that
// answers reads with constant data from memory and never touches storage.
//
// It has two read paths, on one mount:
//
//   - read: the floor. The request is answered the moment it reaches the
//     plugin, with no call back to Vault. What a read of it costs, every
//     external plugin pays: the gRPC hop from Vault and back.
//   - framework: the same answer through framework.Backend's routing of a
//     path with Operations, as plugins written with the SDK do. The SDK
//     (v0.20) then asks Vault for its ReplicationState, a second gRPC
//     round trip (plugin to Vault), on every request, needed or not.
//
// Both answer with the same fields, types and sizes as a read of
// jawbone/creds/<name>, so comparisons measure what a plugin does per read,
// not the size of what it returns.
package main

import (
	"context"
	"maps"
	"os"

	hclog "github.com/hashicorp/go-hclog"
	"github.com/hashicorp/vault/api"
	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
	"github.com/hashicorp/vault/sdk/plugin"
)

// constant mirrors a creds read of a fresh token (43-character token like
// the fake Jawbone's, one-year lifetime, the default refresh_ahead).
var constant = map[string]any{
	"access_token":          "noop-access-token-0123456789abcdefghijklmno",
	"token_type":            "Bearer",
	"expires_at":            "2027-01-01T00:00:00Z",
	"expires_in":            int64(31535999),
	"scopes":                []string{"basic_read"},
	"ttl":                   int64(30931199),
	"rotation_period":       int64(30931200),
	"needs_reauthorization": false,
	"last_refreshed_at":     "2026-01-01T00:00:00Z",
}

// noop answers reads of "read" itself and leaves everything else (the
// "framework" path, help) to framework.Backend.
type noop struct {
	*framework.Backend
}

func (n *noop) HandleRequest(ctx context.Context, req *logical.Request) (*logical.Response, error) {
	if req.Operation == logical.ReadOperation && req.Path == "read" {
		return answer(), nil
	}
	return n.Backend.HandleRequest(ctx, req)
}

// answer is a fresh map per request, as a real handler builds (Vault may
// annotate a response's data), copied from memory.
func answer() *logical.Response {
	return &logical.Response{Data: maps.Clone(constant)}
}

func factory(ctx context.Context, conf *logical.BackendConfig) (logical.Backend, error) {
	read := func(context.Context, *logical.Request, *framework.FieldData) (*logical.Response, error) {
		return answer(), nil
	}
	path := func(pattern, synopsis string) *framework.Path {
		return &framework.Path{
			Pattern: pattern,
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.ReadOperation: &framework.PathOperation{Callback: read},
			},
			HelpSynopsis: synopsis,
		}
	}
	b := &framework.Backend{
		Help:        "A no-op secrets engine: reads return constant data (the load harness's floor).",
		BackendType: logical.TypeLogical,
		Paths: []*framework.Path{
			path("read$", "Constant data, from memory, with no call back to Vault."),
			path("framework$", "Constant data, from memory, routed by framework.Backend."),
		},
		RunningVersion: "v0.0.1",
	}
	if err := b.Setup(ctx, conf); err != nil {
		return nil, err
	}
	return &noop{Backend: b}, nil
}

func main() {
	meta := &api.PluginAPIClientMeta{}
	if err := meta.FlagSet().Parse(os.Args[1:]); err != nil {
		fatal(err)
	}
	err := plugin.ServeMultiplex(&plugin.ServeOpts{
		BackendFactoryFunc: factory,
		TLSProviderFunc:    api.VaultPluginTLSProvider(meta.GetTLSConfig()),
	})
	if err != nil {
		fatal(err)
	}
}

func fatal(err error) {
	hclog.New(&hclog.LoggerOptions{}).Error("plugin shutting down", "error", err)
	os.Exit(1)
}
