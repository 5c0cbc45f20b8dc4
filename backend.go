// Package jawbone is a Vault secrets engine that brokers OAuth 2.0 tokens for
// the Jawbone UP API: it holds the client config and each grant's refresh
// token sealed in Vault, runs the authorization-code flow, and hands out
// access tokens that it refreshes before they expire.
package jawbone

import (
	"context"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
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
	// scanWorkers bounds the background scan's concurrent calls; a
	// simulation makes it 1, so that a seed replays the same schedule.
	scanWorkers int
	// transport carries requests to Jawbone; nil means http.DefaultTransport.
	transport http.RoundTripper

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
	// configLock serialises config updates (read, merge, write).
	configLock sync.Mutex
	// tls is the transport that trusts the config's ca_cert.
	tls tlsTransport
}

// callbackPath is the unauthenticated path Jawbone redirects the browser to
// when redirect_uri is https://<vault>/v1/<mount>callback.
const callbackPath = "callback"

func newBackend() *backend {
	b := &backend{now: time.Now, jitter: randomJitter, scanWorkers: backgroundWorkers, cache: newEntryCache()}
	b.Backend = &framework.Backend{
		Help:        strings.TrimSpace(backendHelp),
		BackendType: logical.TypeLogical,
		PathsSpecial: &logical.Paths{
			// Everything that holds a secret or a token is seal-wrapped.
			SealWrapStorage: []string{configStoragePath, credsStoragePrefix, stateStoragePrefix},
			// Jawbone redirects the browser here; it carries no Vault token.
			Unauthenticated: []string{callbackPath},
		},
		Paths: []*framework.Path{
			b.pathConfig(),
			b.pathAuthURL(),
			b.pathAuthURLForName(),
			b.pathExchange(),
			b.pathCallback(),
			b.pathCredsList(),
			b.pathCredsRefresh(),
			b.pathCredsRevoke(),
			b.pathCredsStatus(),
			b.pathCreds(),
			b.pathStatus(),
		},
		PeriodicFunc:   b.periodic,
		Invalidate:     b.invalidate,
		RunningVersion: Version,
	}
	return b
}

// HandleRequest is the framework's, with help worded for the mount it is
// read on: the help texts are written for a mount at jawbone/, and the
// commands they show must work where the plugin is mounted.
func (b *backend) HandleRequest(ctx context.Context, req *logical.Request) (*logical.Response, error) {
	resp, err := b.Backend.HandleRequest(ctx, req)
	if req.Operation == logical.HelpOperation && resp != nil {
		if help, ok := resp.Data["help"].(string); ok {
			resp.Data["help"] = onMount(help, mountOf(req))
		}
	}
	return resp, err
}

// docMount is how the help texts name the mount.
var docMount = regexp.MustCompile(`\bjawbone/`)

// onMount rewrites a text written for jawbone/ for mount.
func onMount(text, mount string) string {
	if mount == "jawbone/" {
		return text
	}
	return docMount.ReplaceAllLiteralString(text, mount)
}

// handlerFunc is what every path handler is: it returns any error, and the
// op wrappers below turn it into a reply in one place.
type handlerFunc = framework.OperationFunc

// readOp is a read that rejects unknown fields.
func readOp(h handlerFunc) *framework.PathOperation {
	return &framework.PathOperation{Callback: replying(strict(h))}
}

// writingReadOp is a read that writes storage (auth-url stores a state):
// forwarded like a write.
func writingReadOp(h handlerFunc) *framework.PathOperation {
	return forwarded(replying(strict(h)))
}

// listOp is a list; it takes no fields to check.
func listOp(h handlerFunc) *framework.PathOperation {
	return &framework.PathOperation{Callback: replying(h)}
}

// writeOp is a forwarded write that rejects unknown fields.
func writeOp(h handlerFunc) *framework.PathOperation {
	return forwarded(replying(strict(h)))
}

// forwarded marks an operation that writes storage (and may call Jawbone
// first): on a performance standby or secondary, Vault forwards it to the
// node that can write, rather than running it where the result is lost.
func forwarded(h handlerFunc) *framework.PathOperation {
	return &framework.PathOperation{
		Callback:                    h,
		ForwardPerformanceStandby:   true,
		ForwardPerformanceSecondary: true,
	}
}

// replying turns the handler's errors into replies worded for the mount the
// request came in on.
func replying(h handlerFunc) handlerFunc {
	return func(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
		resp, err := h(ctx, req, d)
		if err != nil {
			return respond(mountOf(req), err)
		}
		return resp, nil
	}
}

// strict rejects fields the path does not take: a misspelt field would
// otherwise be ignored with at most a warning (none at all on a 204), and
// the request would go ahead without it.
func strict(h handlerFunc) handlerFunc {
	return func(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
		var unknown []string
		for k := range d.Raw {
			if _, ok := d.Schema[k]; !ok {
				unknown = append(unknown, k)
			}
		}
		if len(unknown) == 0 {
			return h(ctx, req, d)
		}
		slices.Sort(unknown)
		known := slices.Sorted(maps.Keys(d.Schema))
		return nil, badRequest("unknown field %s: %s takes only %s",
			quoteAll(unknown), req.Path, strings.Join(known, ", "))
	}
}
