package fakejawbone

import (
	"encoding/base64"
	"io"
	"slices"
	"time"
)

// codeLifetime is how long Jawbone honours an authorization code.
const codeLifetime = 10 * time.Minute

// authCode is what an authorization code stands for until it is redeemed.
type authCode struct {
	clientID    string
	account     string // the user who approved
	redirectURI string
	scopes      []string
	expires     time.Time
}

// grant is one user's authorization of the app. Its refresh token never
// changes; its access token is replaced on every refresh.
type grant struct {
	account       string // the xid of the user who authorized the app
	refreshToken  string
	accessToken   string
	accessExpires time.Time
	scopes        []string
}

// issued is what a token endpoint reply reports.
type issued struct {
	accessToken  string
	refreshToken string
	lifetime     time.Duration
}

// oauthError is an RFC 6749 error reply from the token endpoint.
type oauthError struct {
	Code        string `json:"error"`
	Description string `json:"error_description"`
}

func invalidGrant(why string) *oauthError { return &oauthError{"invalid_grant", why} }

// randomString returns n bytes of Config.Random, base64url-encoded. The
// reads are serialised, so a seeded reader need not be safe for concurrent
// use. A reader that fails panics: the fake cannot go on without tokens,
// and crypto/rand, the default, never fails.
func (s *Server) randomString(n int) string {
	b := make([]byte, n)
	s.randMu.Lock()
	_, err := io.ReadFull(s.cfg.Random, b)
	s.randMu.Unlock()
	if err != nil {
		panic("fakejawbone: reading Config.Random: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// newCode records an authorization code for a request account approved.
func (s *Server) newCode(clientID, redirectURI, account string, scopes []string) string {
	code := s.randomString(24)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.codes[code] = &authCode{
		clientID:    clientID,
		account:     account,
		redirectURI: redirectURI,
		scopes:      slices.Clone(scopes),
		expires:     s.cfg.Now().Add(codeLifetime),
	}
	return code
}

// redeemCode trades a code for a new grant. The code is spent by the first
// attempt, failed or not, as RFC 6749 asks of a code presented twice.
// redirectURI is checked only when the client sent one.
func (s *Server) redeemCode(code, clientID, redirectURI string, sentRedirect bool) (issued, *oauthError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.codes[code]
	if !ok {
		return issued{}, invalidGrant("the authorization code is unknown or was already used")
	}
	delete(s.codes, code)
	switch {
	case !s.cfg.Now().Before(c.expires):
		return issued{}, invalidGrant("the authorization code has expired")
	case c.clientID != clientID:
		return issued{}, invalidGrant("the authorization code was issued to another client")
	case sentRedirect && redirectURI != c.redirectURI:
		return issued{}, invalidGrant("redirect_uri does not match the one the code was issued for")
	}
	return s.newGrantLocked(c.account, c.scopes), nil
}

// refresh gives the grant of refreshToken a new access token, retiring the
// old one. The refresh token itself stays the same, as at Jawbone.
func (s *Server) refresh(refreshToken string, outside bool) (issued, *oauthError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.byRefresh[refreshToken]
	if !ok {
		return issued{}, invalidGrant("the refresh token is unknown")
	}
	return s.renewAccessLocked(g, outside), nil
}

// RefreshOutside refreshes the grant of refreshToken as another client of
// the app would (say an old kiefer install still running): the grant gets a
// new access token, and the one the plugin holds stops working. Calls does
// not count it and no fault applies: it is not a request to this fake. ok is
// false if the refresh token is unknown.
func (s *Server) RefreshOutside(refreshToken string) (accessToken string, ok bool) {
	iss, oerr := s.refresh(refreshToken, true)
	if oerr != nil {
		return "", false
	}
	return iss.accessToken, true
}

// disconnect removes every grant of account, and the codes it approved but
// the app has not redeemed yet: disconnecting takes back the whole
// authorization (inferred for the codes). The fake has one registered app,
// so these are all the account's grants.
func (s *Server) disconnect(account string, outside bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for refreshToken, g := range s.byRefresh {
		if g.account == account {
			delete(s.byRefresh, refreshToken)
			s.retireLocked(g, outside)
		}
	}
	for code, c := range s.codes {
		if c.account == account {
			delete(s.codes, code)
		}
	}
}

// DisconnectOutside disconnects the app from account xid as the person
// would at Jawbone's site: every grant of the account ends. Calls does not
// count it and no fault applies.
func (s *Server) DisconnectOutside(xid string) {
	s.disconnect(s.mustAccount("DisconnectOutside", xid), true)
}

// IssueTokens creates a grant of the default account out of band, as if the
// user had authorized the app before the test began, and returns its tokens.
func (s *Server) IssueTokens(scopes []string) (accessToken, refreshToken string) {
	return s.IssueTokensFor("", scopes)
}

// TokenValid reports whether the API would accept accessToken now: it was
// issued here, has not been superseded by a refresh and has not expired.
func (s *Server) TokenValid(accessToken string) bool {
	_, ok := s.grantFor(accessToken)
	return ok
}

// grantView is what a handler needs of a grant, copied out under the lock.
type grantView struct {
	account      string
	refreshToken string
}

// grantFor finds the grant whose current, unexpired access token is
// accessToken.
func (s *Server) grantFor(accessToken string) (grantView, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.byAccess[accessToken]
	if !ok || !s.cfg.Now().Before(g.accessExpires) {
		return grantView{}, false
	}
	return grantView{account: g.account, refreshToken: g.refreshToken}, true
}

func (s *Server) newGrantLocked(account string, scopes []string) issued {
	g := &grant{account: account, refreshToken: s.randomString(32), scopes: scopes}
	s.byRefresh[g.refreshToken] = g
	return s.renewAccessLocked(g, false)
}

func (s *Server) renewAccessLocked(g *grant, outside bool) issued {
	if g.accessToken != "" {
		s.retireLocked(g, outside)
	}
	g.accessToken = s.randomString(32)
	g.accessExpires = s.cfg.Now().Add(s.lifetime)
	s.byAccess[g.accessToken] = g
	return issued{accessToken: g.accessToken, refreshToken: g.refreshToken, lifetime: s.lifetime}
}

// retirement is when an access token stopped working: the epoch of its
// retirement, when it would have expired, and whether something outside
// the requests this fake served ended it (RefreshOutside,
// DisconnectOutside).
type retirement struct {
	epoch   uint64
	expires time.Time
	outside bool
}

// retireLocked ends g's current access token.
func (s *Server) retireLocked(g *grant, outside bool) {
	delete(s.byAccess, g.accessToken)
	s.epoch++
	s.retired[g.accessToken] = retirement{epoch: s.epoch, expires: g.accessExpires, outside: outside}
}

// Epoch counts the access tokens retired so far (by a refresh or a
// disconnect). Read it when a request begins; RetiredBy then tells whether
// a token the request handed out was dead already.
func (s *Server) Epoch() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.epoch
}

// RetiredBy reports whether accessToken had stopped working when Epoch
// returned epoch at time at: retired by then by a request this fake
// served, expired by then, or never issued here. A token ended from
// outside (RefreshOutside, DisconnectOutside) counts as working until it
// expires: nothing a client did killed it, and no client can know at once.
func (s *Server) RetiredBy(accessToken string, epoch uint64, at time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if g, ok := s.byAccess[accessToken]; ok {
		return !at.Before(g.accessExpires)
	}
	r, ok := s.retired[accessToken]
	return !ok || (r.epoch <= epoch && !r.outside) || !at.Before(r.expires)
}

// GrantActive reports whether the grant of refreshToken exists: a refresh
// of it would issue a token.
func (s *Server) GrantActive(refreshToken string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.byRefresh[refreshToken]
	return ok
}
