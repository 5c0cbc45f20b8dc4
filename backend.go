// Package jawbone is a Vault secrets engine that brokers OAuth 2.0 tokens for
// the Jawbone UP API: it holds the client config and each grant's refresh
// token sealed in Vault, runs the authorization-code flow, and hands out
// access tokens that it refreshes before they expire.
package jawbone

import (
	"context"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
	"golang.org/x/sync/singleflight"
)

// Version is stamped at build time with -ldflags "-X <module>.Version=vX.Y.Z"
// and reported to Vault as the plugin's running version.
var Version = "v0.0.0-dev"

const backendHelp = `
The Jawbone secrets engine brokers OAuth 2.0 tokens for the Jawbone UP API.

Configure the app's client credentials at "config" and send the user to the
URL from "auth-url". If the redirect_uri is this mount's "callback" path,
Jawbone sends the browser straight back to Vault, which finishes the flow;
otherwise paste the URL the browser lands on into "exchange". Then read fresh
access tokens from "creds/<name>"; "status" shows health and metrics.
Refresh tokens and the client secret are kept seal-wrapped in Vault storage
and are never returned by any read.
`

// Factory is what Vault calls to create the backend.
func Factory(ctx context.Context, conf *logical.BackendConfig) (logical.Backend, error) {
	b := newBackend()
	if conf.System != nil {
		withCache := *conf
		withCache.System = newCachedReplicationView(conf.System)
		conf = &withCache
	}
	if err := b.Setup(ctx, conf); err != nil {
		return nil, err
	}
	return b, nil
}

type backend struct {
	*framework.Backend

	// now is the clock; tests replace it to move time without sleeping.
	now func() time.Time
	// jitter spreads background refreshes; tests make it zero.
	jitter func() time.Duration
	// transport carries provider requests; nil means http.DefaultTransport.
	transport http.RoundTripper
	// newProvider builds the Jawbone client from the stored config.
	newProvider func(cfg *jawboneConfig) provider

	// refreshes makes concurrent refreshes of one creds entry share one
	// token call; entries of other names proceed independently.
	refreshes singleflight.Group
	// credsLocks serialises every write of one creds entry.
	credsLocks nameLocks
	// cache holds decoded config and creds; see entryCache.
	cache *entryCache
	// metrics counts what this node did, for the status path.
	metrics metrics
	// states serialises spending a state so that it can be used only once.
	states stateSpender
}

func newBackend() *backend {
	b := &backend{now: time.Now, jitter: randomJitter, cache: newEntryCache()}
	b.newProvider = func(cfg *jawboneConfig) provider { return newJawboneClient(cfg, b.transport) }
	b.Backend = &framework.Backend{
		Help:        strings.TrimSpace(backendHelp),
		BackendType: logical.TypeLogical,
		PathsSpecial: &logical.Paths{
			// Everything that holds a secret or a token is seal-wrapped.
			SealWrapStorage: []string{configStoragePath, credsStoragePrefix, stateStoragePrefix},
			// Jawbone redirects the browser here; it carries no Vault token.
			Unauthenticated: []string{callbackPath},
		},
		Paths: framework.PathAppend(
			[]*framework.Path{b.pathConfig(), b.pathAuthURL(), b.pathExchange(), b.pathCallback(), b.pathStatus()},
			b.pathCreds(),
		),
		PeriodicFunc:   b.periodic,
		Invalidate:     b.invalidate,
		RunningVersion: Version,
	}
	return b
}

// forwardedWrite marks an operation that writes storage (and may call
// Jawbone first): on a performance standby or secondary, Vault forwards it to
// the node that can write, rather than running it where the result is lost.
func forwardedWrite(cb framework.OperationFunc) *framework.PathOperation {
	return &framework.PathOperation{
		Callback:                    cb,
		ForwardPerformanceStandby:   true,
		ForwardPerformanceSecondary: true,
	}
}

// writeOp is a forwarded write that rejects unknown fields.
func writeOp(cb framework.OperationFunc) *framework.PathOperation {
	return forwardedWrite(strict(cb))
}

// readOp is a read-only operation that rejects unknown fields.
func readOp(cb framework.OperationFunc) *framework.PathOperation {
	return &framework.PathOperation{Callback: strict(cb)}
}

// strict rejects fields the path does not take: a misspelt field would
// otherwise be ignored with at most a warning (none at all on a 204), and
// the request would go ahead without it.
func strict(cb framework.OperationFunc) framework.OperationFunc {
	return func(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
		var unknown []string
		for k := range d.Raw {
			if _, ok := d.Schema[k]; !ok {
				unknown = append(unknown, k)
			}
		}
		if len(unknown) == 0 {
			return cb(ctx, req, d)
		}
		slices.Sort(unknown)
		known := slices.Sorted(maps.Keys(d.Schema))
		return respondError(badRequest("unknown field %s: %s takes only %s",
			quoteAll(unknown), req.Path, strings.Join(known, ", ")))
	}
}

func quoteAll(names []string) string {
	quoted := make([]string, len(names))
	for i, n := range names {
		quoted[i] = strconv.Quote(n)
	}
	return strings.Join(quoted, ", ")
}
