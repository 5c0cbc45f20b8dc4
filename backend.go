// Package jawbone is a Vault secrets engine that brokers OAuth 2.0 tokens for
// the Jawbone UP API: it holds the client config and each grant's refresh
// token sealed in Vault, runs the authorization-code flow, and hands out
// access tokens that it refreshes before they expire.
package jawbone

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	hclog "github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-secure-stdlib/parseutil"
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
	cacheBytes, err := cacheSizeOption(conf.Config)
	if err != nil {
		return nil, err
	}
	b := newBackend(cacheBytes)
	if conf.System != nil {
		withCache := *conf
		withCache.System = newCachedReplicationView(conf.System)
		conf = &withCache
	}
	if err := b.Setup(ctx, conf); err != nil {
		return nil, err
	}
	return servedBackend{b}, nil
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
	// share runs an attendance for every concurrent caller of one name:
	// once, through refreshes. The concurrent simulation runs each
	// caller's own instead, so that its scheduler interleaves them at the
	// name's critical section (it cannot see inside singleflight's wait).
	share func(name string, attend func() attended) attended
	// registry is where grants are stored, indexed, cached and locked
	// (its cache holds the config too).
	registry *registry
	// background is the context of work that outlives requests (the load
	// of the schedule); stop ends it when the plugin stops.
	background context.Context
	stop       context.CancelFunc
	// metrics counts what this node did, for the status path.
	metrics *metrics
	// states issues states within their limits and spends each once.
	states pendingStates
	// configLock serialises config updates (read, merge, write).
	configLock keyLocks
	// tls is the transport that trusts the config's ca_cert.
	tls tlsTransport
	// logger is the backend's logger with the mount it serves, learned
	// from its requests (nil until the first).
	logger atomic.Pointer[mountLogger]
}

// mountLogger is a logger whose lines name a mount.
type mountLogger struct {
	mount string
	hclog.Logger
}

// log is the backend's logger, its lines naming the mount: several mounts
// of the plugin share one plugin process, whose output Vault files under
// the first mount's name, so without it a line's mount cannot be told.
func (b *backend) log() hclog.Logger {
	if l := b.logger.Load(); l != nil {
		return l.Logger
	}
	return b.Logger()
}

// noteMount remembers the mount a request came in on, for the log.
func (b *backend) noteMount(mount string) {
	if mount == "" {
		return
	}
	if l := b.logger.Load(); l == nil || l.mount != mount {
		b.logger.Store(&mountLogger{mount: mount, Logger: b.Logger().With("mount", mount)})
	}
}

// callbackPath is the unauthenticated path Jawbone redirects the browser to
// when redirect_uri is https://<vault>/v1/<mount>callback.
const callbackPath = "callback"

func newBackend(cacheBytes int) *backend {
	b := &backend{now: time.Now, jitter: randomJitter, scanWorkers: backgroundWorkers}
	b.share = b.shareOnce
	b.registry = newRegistry(cacheBytes, b.log, func() time.Time { return b.now() })
	b.metrics = newMetrics(b.registry, func() time.Time { return b.now() })
	b.background, b.stop = context.WithCancel(context.Background())
	b.Backend = &framework.Backend{
		Help:        strings.TrimSpace(backendHelp),
		BackendType: logical.TypeLogical,
		PathsSpecial: &logical.Paths{
			// Everything that holds a secret or a token is seal-wrapped.
			SealWrapStorage: []string{configStoragePath, credsStoragePrefix, stateStoragePrefix, indexPrefix, saltStoragePath},
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
		Clean:          func(context.Context) { b.stop() },
		Invalidate:     b.invalidate,
		RunningVersion: Version,
	}
	return b
}

// cacheSizeOption reads the mount option cache_size (vault secrets enable
// -options=cache_size=256MiB): the cache's budget of bytes.
func cacheSizeOption(options map[string]string) (int, error) {
	raw, ok := options[optionCacheSize]
	if !ok || strings.TrimSpace(raw) == "" {
		return defaultCacheBytes, nil
	}
	n, err := parseutil.ParseCapacityString(raw)
	if err != nil || n > maxCacheBytes {
		return 0, fmt.Errorf("the mount option %s must be a size such as 64MiB, 1GiB or a number of bytes, at most 1TiB (0 turns the cache off); got %q", optionCacheSize, raw)
	}
	return int(n), nil
}

// optionCacheSize is the mount option that sets the cache's budget.
const (
	optionCacheSize = "cache_size"
	maxCacheBytes   = 1 << 40
)

// HandleRequest is the framework's, with help worded for the mount it is
// read on: the help texts are written for a mount at jawbone/, and the
// commands they show must work where the plugin is mounted.
func (b *backend) HandleRequest(ctx context.Context, req *logical.Request) (*logical.Response, error) {
	b.noteMount(req.MountPoint)
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

// fieldSet is what one operation of a path takes: its path's fields (nil),
// or only some of them (a read of creds/<name> takes none but the name).
type fieldSet []string

// every is the fieldSet of an operation that takes every field of its path.
var every fieldSet

// readOp is a read that rejects fields it does not take.
func readOp(h handlerFunc, takes fieldSet) *framework.PathOperation {
	return &framework.PathOperation{Callback: replying(strict(logical.ReadOperation, takes, h))}
}

// writingReadOp is a read that writes storage (auth-url stores a state):
// forwarded like a write.
func writingReadOp(h handlerFunc, takes fieldSet) *framework.PathOperation {
	return forwarded(replying(strict(logical.ReadOperation, takes, h)))
}

// listOp is a list; it takes no fields to check. It is forwarded like a
// write: the node that can write keeps every name in memory, in order,
// while elsewhere a page would cost a listing of every creds entry.
func listOp(h handlerFunc) *framework.PathOperation {
	return forwarded(replying(h))
}

// writeOp is a forwarded write (or delete) that rejects fields it does not
// take.
func writeOp(op logical.Operation, h handlerFunc, takes fieldSet) *framework.PathOperation {
	return forwarded(replying(strict(op, takes, h)))
}

// writeOnly answers a read of a path that is a write with how to write it,
// rather than Vault's bare "unsupported operation".
func writeOnly() *framework.PathOperation {
	return &framework.PathOperation{Callback: func(_ context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
		if err := nameInPath(d); err != nil {
			return respond(mountOf(req), err) // the command would not work either
		}
		return respond(mountOf(req), &requestError{status: http.StatusMethodNotAllowed,
			msg: fmt.Sprintf("%s is a write, not a read: %s", req.Path, vaultCmd(mountOf(req), "write -f", req.Path))})
	}}
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

// strict rejects fields the operation does not take: a misspelt field
// would otherwise be ignored with at most a warning (none at all on a 204),
// and the request would go ahead without it. The message lists what this
// operation takes, not every field of the path.
func strict(op logical.Operation, takes fieldSet, h handlerFunc) handlerFunc {
	return func(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
		if err := nameInPath(d); err != nil {
			return nil, err
		}
		accepts := func(k string) bool {
			if takes == nil {
				_, ok := d.Schema[k]
				return ok
			}
			return slices.Contains(takes, k)
		}
		var unknown []string
		for k := range d.Raw {
			if !accepts(k) {
				unknown = append(unknown, k)
			}
		}
		if len(unknown) == 0 {
			return h(ctx, req, d)
		}
		allowed := slices.Collect(maps.Keys(d.Schema))
		allowed = slices.DeleteFunc(allowed, func(k string) bool { return !accepts(k) })
		slices.Sort(unknown)
		return nil, badRequest("unknown field %s: a %s of %s takes %s", quoteAll(unknown), opName(op), req.Path, takesText(allowed, d))
	}
}

// takesText lists the fields an operation takes, those in its path left out.
func takesText(allowed []string, d *framework.FieldData) string {
	var fields []string
	for _, k := range allowed {
		if s, ok := d.Schema[k]; ok && !inPattern(k, d) && s.Type != framework.TypeHeader {
			fields = append(fields, k)
		}
	}
	if len(fields) == 0 {
		return "no fields"
	}
	slices.Sort(fields)
	return "only " + strings.Join(fields, ", ")
}

// nameInPath checks the creds name a path carries, before anything else:
// a pattern that takes the rest of the path as the name also matches a
// path below an action path (creds/x/refresh/extra), which is no creds and
// must not be answered as one.
func nameInPath(d *framework.FieldData) error {
	if !inPattern(keyName, d) {
		return nil
	}
	return validateCredsName(d.Get(keyName).(string))
}

// inPattern reports whether field k came from the request's path.
func inPattern(k string, d *framework.FieldData) bool {
	s, ok := d.Schema[k]
	return ok && k == keyName && s.Required
}

func opName(op logical.Operation) string {
	switch op {
	case logical.UpdateOperation, logical.CreateOperation:
		return "write"
	case logical.DeleteOperation:
		return "delete"
	}
	return string(op)
}
