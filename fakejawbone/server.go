// Package fakejawbone is a stand-in for the Jawbone UP OAuth 2.0 service and
// the few API endpoints the plugin and its tests use. Jawbone went offline in
// 2017, so the unit tests, the end-to-end suite and the local demo all talk
// to this instead. It follows Jawbone's wire behaviour where it is known
// (credentials only as parameters, refresh tokens that do not rotate, the
// meta/data API envelope), marks what is only inferred from clients that
// worked, and lets tests inject faults per endpoint. Every grant belongs to
// an account (see DefaultAccount and SetSignedIn). One endpoint is the
// fake's own and not Jawbone's: MintURL, for the demo.
//
// The Server keeps everything in memory, is safe for concurrent use, and
// never logs: its requests and replies carry client secrets and tokens.
package fakejawbone

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Endpoint names, as used by Calls and InjectFault.
const (
	EndpointAuth         = "auth"         // /auth/oauth2/auth
	EndpointToken        = "token"        // /auth/oauth2/token
	EndpointRefreshToken = "refreshToken" // /nudge/api/v.1.1/users/@me/refreshToken
	EndpointMe           = "me"           // /nudge/api/v.1.1/users/@me
	EndpointMembership   = "membership"   // /nudge/api/v.1.1/users/@me/PartnerAppMembership
)

const (
	authPath         = "/auth/oauth2/auth"
	tokenPath        = "/auth/oauth2/token"
	apiPath          = "/nudge/api/v.1.1"
	mePath           = apiPath + "/users/@me"
	refreshTokenPath = mePath + "/refreshToken"
	membershipPath   = mePath + "/PartnerAppMembership"
)

// routes maps a request path to its endpoint name.
var routes = map[string]string{
	authPath:         EndpointAuth,
	tokenPath:        EndpointToken,
	refreshTokenPath: EndpointRefreshToken,
	mePath:           EndpointMe,
	membershipPath:   EndpointMembership,
}

// DefaultTokenLifetime is Jawbone's access token lifetime: one year.
const DefaultTokenLifetime = 365 * 24 * time.Hour

// Config describes the one app registered at the fake.
type Config struct {
	ClientID, ClientSecret string
	RedirectURIPrefix      string           // registered redirect URI; "" accepts any
	TokenLifetime          time.Duration    // default DefaultTokenLifetime
	ConsentPage            bool             // render an Allow/Deny page instead of auto-approving
	Now                    func() time.Time // default time.Now
	// AccountXID is the default account's xid (see DefaultAccount); random
	// if empty. New panics unless it passes ValidateAccountXID.
	AccountXID string
	// Random is where tokens, codes and account xids come from; default
	// crypto/rand. A seeded reader makes a simulation's tokens repeatable
	// as long as its requests arrive in a repeatable order.
	Random io.Reader
}

// Server is the fake Jawbone, an http.Handler. Create it with New.
type Server struct {
	cfg            Config     // read-only after New
	defaultAccount string     // read-only after New
	randMu         sync.Mutex // serialises reads of cfg.Random

	mu        sync.Mutex
	deny      bool
	signedIn  string // the account that approves browser authorizations
	lifetime  time.Duration
	calls     map[string]int
	faults    map[string][]*queuedFault
	codes     map[string]*authCode
	byRefresh map[string]*grant
	byAccess  map[string]*grant
	// retired records every access token that stopped working before it
	// expired (a refresh replaced it, a disconnect ended its grant), with
	// epoch counting them: what a test needs to tell whether a token was
	// dead before some request began.
	retired map[string]retirement
	epoch   uint64

	closeOnce sync.Once
	closed    chan struct{}

	// callSignal, while someone waits for calls (WaitForCalls), is closed
	// at the next counted call (under mu).
	callSignal chan struct{}
}

// New returns a fake Jawbone for the app described by cfg.
func New(cfg Config) *Server {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.TokenLifetime <= 0 {
		cfg.TokenLifetime = DefaultTokenLifetime
	}
	if cfg.Random == nil {
		cfg.Random = rand.Reader
	}
	s := &Server{
		cfg:       cfg,
		lifetime:  cfg.TokenLifetime,
		calls:     map[string]int{},
		faults:    map[string][]*queuedFault{},
		codes:     map[string]*authCode{},
		byRefresh: map[string]*grant{},
		byAccess:  map[string]*grant{},
		retired:   map[string]retirement{},
		closed:    make(chan struct{}),
	}
	s.defaultAccount = cfg.AccountXID
	if s.defaultAccount == "" {
		s.defaultAccount = s.randomString(12)
	} else if err := ValidateAccountXID(s.defaultAccount); err != nil {
		panic("fakejawbone: New: Config.AccountXID: " + err.Error())
	}
	s.signedIn = s.defaultAccount
	return s
}

// handlers maps an endpoint name to its handler.
var handlers = map[string]func(*Server, http.ResponseWriter, *http.Request){
	EndpointAuth:         (*Server).handleAuth,
	EndpointToken:        (*Server).handleToken,
	EndpointRefreshToken: (*Server).handleRefreshToken,
	EndpointMe:           (*Server).handleMe,
	EndpointMembership:   (*Server).handleMembership,
}

// ServeHTTP counts the request, lets a queued fault answer it if one is
// due, and otherwise hands it to the endpoint's handler. The fake's own mint
// endpoint is neither counted nor faulted.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := collapseSlashes(r.URL.Path)
	if path == mintPath {
		s.handleMint(w, r)
		return
	}
	endpoint, ok := routes[path]
	if !ok {
		s.writeNotFound(w)
		return
	}
	s.countCall(endpoint)
	serve := func(w http.ResponseWriter, r *http.Request) { handlers[endpoint](s, w, r) }
	if f, ok := s.nextFault(endpoint); ok {
		s.applyFault(w, r, f, serve)
		return
	}
	serve(w, r)
}

// collapseSlashes merges each run of slashes in a path into one. Real
// clients send paths like "//nudge/api/v.1.1//users/@me" (kiefer joins its
// base URL and paths that start with "/"), and they worked, so Jawbone's
// front end merged repeated slashes (inferred). It is done in place rather
// than with a redirect: a client resends a redirected POST as a GET without
// its body.
func collapseSlashes(path string) string {
	if !strings.Contains(path, "//") {
		return path
	}
	var b strings.Builder
	b.Grow(len(path))
	for i := range len(path) {
		if path[i] == '/' && i > 0 && path[i-1] == '/' {
			continue
		}
		b.WriteByte(path[i])
	}
	return b.String()
}

// SetDeny makes every valid authorization request end in access_denied (the
// user said no), or restores normal approval.
func (s *Server) SetDeny(deny bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deny = deny
}

func (s *Server) denying() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.deny
}

// SetTokenLifetime changes the lifetime of access tokens issued from now on;
// d <= 0 restores the default of one year.
func (s *Server) SetTokenLifetime(d time.Duration) {
	if d <= 0 {
		d = DefaultTokenLifetime
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lifetime = d
}

// Calls reports how many requests the endpoint received since New or the
// last ResetCalls, including those a fault answered.
func (s *Server) Calls(endpoint string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[endpoint]
}

// ResetCalls sets every endpoint's call count back to zero.
func (s *Server) ResetCalls() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.calls)
}

func (s *Server) countCall(endpoint string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls[endpoint]++
	if s.callSignal != nil {
		close(s.callSignal)
		s.callSignal = nil
	}
}

// WaitForCalls waits until the endpoint has received n requests since New
// or the last ResetCalls (those a fault answered included), or ctx ends: a
// test's signal that a request it started has reached Jawbone.
func (s *Server) WaitForCalls(ctx context.Context, endpoint string, n int) error {
	for {
		s.mu.Lock()
		got := s.calls[endpoint]
		if got >= n {
			s.mu.Unlock()
			return nil
		}
		if s.callSignal == nil {
			s.callSignal = make(chan struct{})
		}
		signal := s.callSignal
		s.mu.Unlock()
		select {
		case <-signal:
		case <-ctx.Done():
			return fmt.Errorf("fakejawbone: %d calls to %s, want %d: %w", got, endpoint, n, ctx.Err())
		}
	}
}

// Close releases every request waiting in a fault's Delay or DripInterval,
// also those of CompleteAfterHangup faults, which then are not processed.
// It does not stop an http.Server; close that too (after this, so that its
// Close does not wait for the delayed handlers).
func (s *Server) Close() {
	s.closeOnce.Do(func() { close(s.closed) })
}

// AuthURL, TokenURL and APIURL build the plugin's auth_url, token_url and
// api_url from the base URL the fake is served at.
func AuthURL(base string) string  { return strings.TrimRight(base, "/") + authPath }
func TokenURL(base string) string { return strings.TrimRight(base, "/") + tokenPath }
func APIURL(base string) string   { return strings.TrimRight(base, "/") + apiPath }

// AuthURL is the package function AuthURL, for callers holding a Server.
func (s *Server) AuthURL(base string) string { return AuthURL(base) }

// TokenURL is the package function TokenURL, for callers holding a Server.
func (s *Server) TokenURL(base string) string { return TokenURL(base) }

// APIURL is the package function APIURL, for callers holding a Server.
func (s *Server) APIURL(base string) string { return APIURL(base) }
