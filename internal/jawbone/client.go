// Package jawbone is the client for Jawbone's OAuth 2.0 token endpoint and
// the parts of the UP API the secrets engine uses. It knows nothing of
// Vault: it takes its own Config, returns its own Token and classifies every
// failure as an *Error of a Kind, so that the engine can decide what a
// failure means for a grant.
package jawbone

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// maxReplyBytes bounds what we read of any provider reply: a token reply is a
// few hundred bytes, so anything near this is a fault, not data.
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
}

// Token is what the token endpoint hands back.
type Token struct {
	AccessToken  string
	TokenType    string
	RefreshToken string
	ExpiresIn    time.Duration
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
		apiURL: strings.TrimRight(cfg.APIURL, "/"),
		secret: cfg.ClientSecret,
		http: &http.Client{Timeout: cfg.Timeout, Transport: cfg.Transport,
			// Never follow a redirect: it would re-send the client secret and
			// tokens to wherever it points, past the https-only rule.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		now: now,
	}
}

// AuthCodeURL is Jawbone's authorization URL: response_type=code,
// client_id, redirect_uri, space-separated scope and state.
func (c *Client) AuthCodeURL(scopes []string, state string) string {
	oc := *c.oauth
	oc.Scopes = scopes
	return oc.AuthCodeURL(state)
}

// Exchange trades an authorization code for tokens.
func (c *Client) Exchange(ctx context.Context, code string) (*Token, error) {
	t, err := c.oauth.Exchange(c.withHTTP(ctx), code)
	if err != nil {
		return nil, c.classify("exchange", err)
	}
	return c.fromOAuth(t), nil
}

// Refresh obtains a new access token. Passing a token with only the refresh
// token set makes x/oauth2 refresh unconditionally.
func (c *Client) Refresh(ctx context.Context, refreshToken string) (*Token, error) {
	src := c.oauth.TokenSource(c.withHTTP(ctx), &oauth2.Token{RefreshToken: refreshToken})
	t, err := src.Token()
	if err != nil {
		return nil, c.classify("refresh", err)
	}
	return c.fromOAuth(t), nil
}

// RecoverRefreshToken asks the API for the refresh token of the grant an
// access token belongs to (kiefer's get_refresh_token).
func (c *Client) RecoverRefreshToken(ctx context.Context, accessToken string) (string, error) {
	const op = "recover refresh token"
	form := url.Values{"secret": {c.secret}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost,
		c.apiURL+"/users/@me/refreshToken", strings.NewReader(form.Encode()))
	if err != nil {
		return "", &Error{Op: op, Kind: GrantRejected, Err: err}
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Authorization", "Bearer "+accessToken)
	resp, err := c.http.Do(req)
	if err != nil {
		return "", c.classify(op, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxReplyBytes))
	if err != nil {
		return "", c.classify(op, err)
	}
	return c.parseRefreshTokenReply(resp, body)
}

// TokenWorks asks the API whether accessToken is still accepted: true on
// 200, false on 401, an error when the API gives no clear answer. It settles
// whether a refresh whose outcome we never saw replaced the token.
func (c *Client) TokenWorks(ctx context.Context, accessToken string) (bool, error) {
	const op = "check access token"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.apiURL+"/users/@me", nil)
	if err != nil {
		return false, &Error{Op: op, Kind: ClientRejected, Err: err}
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Authorization", "Bearer "+accessToken)
	resp, err := c.http.Do(req)
	if err != nil {
		return false, c.classify(op, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxReplyBytes)) // to reuse the connection
	switch resp.StatusCode {
	case http.StatusOK:
		return true, nil
	case http.StatusUnauthorized:
		return false, nil
	default:
		return false, &Error{Op: op, Kind: kindForStatus(resp.StatusCode), Status: resp.StatusCode}
	}
}

// apiEnvelope is the meta/data wrapper of every Jawbone API reply.
type apiEnvelope struct {
	Meta struct {
		Code        int    `json:"code"`
		ErrorType   string `json:"error_type"`
		ErrorDetail string `json:"error_detail"`
	} `json:"meta"`
	Data struct {
		RefreshToken string `json:"refresh_token"`
	} `json:"data"`
}

func (c *Client) parseRefreshTokenReply(resp *http.Response, body []byte) (string, error) {
	const op = "recover refresh token"
	var env apiEnvelope
	jsonErr := json.Unmarshal(body, &env)
	if resp.StatusCode != http.StatusOK {
		detail := strings.TrimSpace(env.Meta.ErrorType + " " + env.Meta.ErrorDetail)
		return "", &Error{Op: op, Kind: kindForStatus(resp.StatusCode), Status: resp.StatusCode,
			Code: env.Meta.ErrorType, Description: detail, RetryAfter: c.retryAfter(resp)}
	}
	if jsonErr != nil {
		return "", &Error{Op: op, Kind: Transient, Status: resp.StatusCode,
			Err: fmt.Errorf("reply is not the JSON envelope: %w", jsonErr)}
	}
	if env.Data.RefreshToken == "" {
		return "", &Error{Op: op, Kind: Transient, Status: resp.StatusCode,
			Err: errors.New("reply carries no data.refresh_token")}
	}
	return env.Data.RefreshToken, nil
}

func (c *Client) withHTTP(ctx context.Context) context.Context {
	return context.WithValue(ctx, oauth2.HTTPClient, c.http)
}

func (c *Client) fromOAuth(t *oauth2.Token) *Token {
	lifetime, ok := expiresIn(t)
	if !ok || lifetime <= 0 {
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
// wall clock; ok is false when the reply has none.
func expiresIn(t *oauth2.Token) (time.Duration, bool) {
	var secs float64
	switch v := t.Extra("expires_in").(type) {
	case float64: // JSON
		secs = v
	case int64: // form-encoded
		secs = float64(v)
	case string: // some servers quote it
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
