// Package jawbone is the client for Jawbone's OAuth 2.0 token endpoint and
// the parts of the UP API the secrets engine uses. It knows nothing of
// Vault: it takes its own Config, returns its own Token and Account and
// classifies every failure as an *Error of a Kind, so that the engine can
// decide what a failure means for a grant.
package jawbone

import (
	"context"
	"errors"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// maxReplyBytes bounds what we read of any reply: a token reply is a few
// hundred bytes, so anything near this is a fault, not data.
const maxReplyBytes = 1 << 20

// DefaultTokenLifetime is what Jawbone documents for access tokens; it is
// assumed only when a reply carries no expires_in at all.
const DefaultTokenLifetime = 365 * 24 * time.Hour

// Config is the app registration and how to reach Jawbone.
type Config struct {
	ClientID     string
	ClientSecret string
	RedirectURI  string
	AuthURL      string
	TokenURL     string
	APIURL       string
	// Timeout bounds each call.
	Timeout time.Duration
	// Transport carries the requests; nil means http.DefaultTransport.
	Transport http.RoundTripper
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Debug, if set, receives what must not reach an error: the start of
	// an unexpected reply, with the secrets the request carried blanked.
	Debug func(msg string, keyvals ...any)
}

// Token is what the token endpoint hands back.
type Token struct {
	AccessToken  string
	TokenType    string
	RefreshToken string
	// ExpiresIn is the lifetime the reply gave; 0 or less means the token
	// has expired already.
	ExpiresIn time.Duration
}

// Client talks to the token endpoint (through x/oauth2) and to the API. It
// holds the client secret, so it is built per request from the stored
// config and never logged.
type Client struct {
	oauth  *oauth2.Config
	apiURL string
	secret string
	http   *http.Client
	now    func() time.Time
	debug  func(msg string, keyvals ...any)
}

// New builds a client for cfg.
func New(cfg Config) *Client {
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	return &Client{
		oauth: &oauth2.Config{
			ClientID:     cfg.ClientID,
			ClientSecret: cfg.ClientSecret,
			RedirectURL:  cfg.RedirectURI,
			Endpoint: oauth2.Endpoint{
				AuthURL:  cfg.AuthURL,
				TokenURL: cfg.TokenURL,
				// Jawbone takes client credentials only as parameters; auto-detection
				// would try HTTP Basic first and burn a request on every call.
				AuthStyle: oauth2.AuthStyleInParams,
			},
		},
		// Jawbone's front end merged repeated slashes (kiefer's own paths
		// have them, inferred), but we never send any.
		apiURL: strings.TrimRight(cfg.APIURL, "/"),
		secret: cfg.ClientSecret,
		http: &http.Client{Timeout: cfg.Timeout, Transport: cfg.Transport,
			// Never follow a redirect: it would re-send the client secret and
			// tokens to wherever it points, past the https-only rule.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		now:   now,
		debug: cfg.Debug,
	}
}

// AuthCodeURL is Jawbone's authorization URL: response_type=code,
// client_id, redirect_uri, space-separated scope and state.
func (c *Client) AuthCodeURL(scopes []string, state string) string {
	oc := *c.oauth
	oc.Scopes = scopes
	return oc.AuthCodeURL(state)
}

// Exchange trades an authorization code for tokens. A reply without a
// refresh token is refused: the creds could never be refreshed.
func (c *Client) Exchange(ctx context.Context, code string) (*Token, error) {
	const op = "exchange"
	t, err := c.oauth.Exchange(c.withHTTP(ctx), code)
	if err != nil {
		return nil, c.newCall(op, code).classifyToken(err)
	}
	tok := c.fromOAuth(t)
	if tok.RefreshToken == "" {
		// Jawbone issued a grant, whose tokens are not stored: what it did to
		// the grant the name holds is not known.
		return nil, &Error{Op: op, Kind: Transient, Incomplete: true, Outcome: UnknownFinished,
			Err: errors.New("the reply carries no refresh_token, so the creds could never be refreshed")}
	}
	return tok, nil
}

// Refresh obtains a new access token. Passing a token with only the refresh
// token set makes x/oauth2 refresh unconditionally.
func (c *Client) Refresh(ctx context.Context, refreshToken string) (*Token, error) {
	src := c.oauth.TokenSource(c.withHTTP(ctx), &oauth2.Token{RefreshToken: refreshToken})
	t, err := src.Token()
	if err != nil {
		return nil, c.newCall("refresh", refreshToken).classifyToken(err)
	}
	return c.fromOAuth(t), nil
}

func (c *Client) withHTTP(ctx context.Context) context.Context {
	return context.WithValue(ctx, oauth2.HTTPClient, c.http)
}

func (c *Client) fromOAuth(t *oauth2.Token) *Token {
	lifetime, ok := expiresIn(t)
	if !ok {
		lifetime = DefaultTokenLifetime
	}
	return &Token{
		AccessToken:  t.AccessToken,
		TokenType:    t.TokenType,
		RefreshToken: t.RefreshToken,
		ExpiresIn:    lifetime,
	}
}

// expiresIn reads the reply's own expires_in, in JSON or form-encoded
// replies alike, rather than the absolute expiry x/oauth2 derives from the
// wall clock; ok is false when the reply has none. A missing expires_in is
// Jawbone's default year; 0 or less says the token has expired already.
func expiresIn(t *oauth2.Token) (time.Duration, bool) {
	var secs float64
	switch v := t.Extra("expires_in").(type) {
	case float64: // JSON
		secs = v
	case int64: // form-encoded
		secs = float64(v)
	case string: // quoted, or a form value that is not a number
		n, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil {
			return 0, false
		}
		secs = n
	default:
		return 0, false
	}
	// Clamped as x/oauth2 does, so that a huge value cannot overflow.
	secs = max(min(secs, math.MaxInt32), math.MinInt32)
	return time.Duration(secs * float64(time.Second)), true
}
