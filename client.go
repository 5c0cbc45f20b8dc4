package jawbone

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
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

// defaultTokenLifetime is what Jawbone documents for access tokens; it is
// assumed only when a reply carries no expires_in at all.
const defaultTokenLifetime = 365 * 24 * time.Hour

// token is what the provider hands back: the parts the backend stores.
type token struct {
	AccessToken  string
	TokenType    string
	RefreshToken string
	ExpiresIn    time.Duration
}

// provider is what the backend needs from Jawbone. The real one is jawboneClient;
// tests use the same type against the fake Jawbone over HTTP.
type provider interface {
	Exchange(ctx context.Context, code string) (*token, error)
	Refresh(ctx context.Context, refreshToken string) (*token, error)
	RecoverRefreshToken(ctx context.Context, accessToken string) (string, error)
	TokenWorks(ctx context.Context, accessToken string) (bool, error)
}

// jawboneClient talks to the Jawbone token endpoint (through x/oauth2) and to
// the API's refreshToken endpoint. It holds client credentials, so it is
// built per request from the stored config and never logged.
type jawboneClient struct {
	oauth  *oauth2.Config
	apiURL string
	secret string
	http   *http.Client
}

func newJawboneClient(cfg *jawboneConfig, transport http.RoundTripper) *jawboneClient {
	return &jawboneClient{
		oauth: &oauth2.Config{
			ClientID:     cfg.ClientID,
			ClientSecret: cfg.ClientSecret,
			RedirectURL:  cfg.RedirectURI,
			Scopes:       cfg.Scopes,
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
		http: &http.Client{Timeout: cfg.RequestTimeout, Transport: transport,
			// Never follow a redirect: it would re-send the client secret and
			// tokens to wherever it points, past the https-only rule.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
	}
}

// Exchange trades an authorization code for tokens.
func (c *jawboneClient) Exchange(ctx context.Context, code string) (*token, error) {
	t, err := c.oauth.Exchange(c.withHTTP(ctx), code)
	if err != nil {
		return nil, classify("exchange", err)
	}
	return fromOAuth(t), nil
}

// Refresh obtains a new access token. Passing a token with only the refresh
// token set makes x/oauth2 refresh unconditionally.
func (c *jawboneClient) Refresh(ctx context.Context, refreshToken string) (*token, error) {
	src := c.oauth.TokenSource(c.withHTTP(ctx), &oauth2.Token{RefreshToken: refreshToken})
	t, err := src.Token()
	if err != nil {
		return nil, classify("refresh", err)
	}
	return fromOAuth(t), nil
}

// RecoverRefreshToken asks the API for the refresh token of the grant an
// access token belongs to (kiefer's get_refresh_token).
func (c *jawboneClient) RecoverRefreshToken(ctx context.Context, accessToken string) (string, error) {
	form := url.Values{"secret": {c.secret}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost,
		c.apiURL+"/users/@me/refreshToken", strings.NewReader(form.Encode()))
	if err != nil {
		return "", &providerError{Op: "recover refresh token", Kind: errPermanent, Err: err}
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Authorization", "Bearer "+accessToken)
	resp, err := c.http.Do(req)
	if err != nil {
		return "", classify("recover refresh token", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxReplyBytes))
	if err != nil {
		return "", classify("recover refresh token", err)
	}
	return parseRefreshTokenReply(resp, body)
}

// TokenWorks asks the API whether accessToken is still accepted: true on
// 200, false on 401, an error when the API gives no clear answer. It settles
// whether a refresh whose outcome we never saw replaced the token.
func (c *jawboneClient) TokenWorks(ctx context.Context, accessToken string) (bool, error) {
	const op = "check access token"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.apiURL+"/users/@me", nil)
	if err != nil {
		return false, &providerError{Op: op, Kind: errClient, Err: err}
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Authorization", "Bearer "+accessToken)
	resp, err := c.http.Do(req)
	if err != nil {
		return false, classify(op, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxReplyBytes)) // to reuse the connection
	switch resp.StatusCode {
	case http.StatusOK:
		return true, nil
	case http.StatusUnauthorized:
		return false, nil
	default:
		return false, &providerError{Op: op, Kind: kindForStatus(resp.StatusCode), Status: resp.StatusCode}
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

func parseRefreshTokenReply(resp *http.Response, body []byte) (string, error) {
	const op = "recover refresh token"
	var env apiEnvelope
	jsonErr := json.Unmarshal(body, &env)
	if resp.StatusCode != http.StatusOK {
		detail := strings.TrimSpace(env.Meta.ErrorType + " " + env.Meta.ErrorDetail)
		return "", &providerError{Op: op, Kind: kindForStatus(resp.StatusCode), Status: resp.StatusCode,
			Code: env.Meta.ErrorType, Description: detail, RetryAfter: retryAfter(resp)}
	}
	if jsonErr != nil {
		return "", &providerError{Op: op, Kind: errTransient, Status: resp.StatusCode,
			Err: fmt.Errorf("reply is not the JSON envelope: %w", jsonErr)}
	}
	if env.Data.RefreshToken == "" {
		return "", &providerError{Op: op, Kind: errTransient, Status: resp.StatusCode,
			Err: errors.New("reply carries no data.refresh_token")}
	}
	return env.Data.RefreshToken, nil
}

func (c *jawboneClient) withHTTP(ctx context.Context) context.Context {
	return context.WithValue(ctx, oauth2.HTTPClient, c.http)
}

func fromOAuth(t *oauth2.Token) *token {
	lifetime := time.Duration(t.ExpiresIn) * time.Second
	if lifetime <= 0 && !t.Expiry.IsZero() {
		// Form-encoded replies give x/oauth2 only an absolute expiry.
		lifetime = time.Until(t.Expiry)
	}
	if lifetime <= 0 {
		lifetime = defaultTokenLifetime
	}
	return &token{
		AccessToken:  t.AccessToken,
		TokenType:    t.TokenType,
		RefreshToken: t.RefreshToken,
		ExpiresIn:    lifetime,
	}
}

// errKind says whether retrying can help.
type errKind int

const (
	// errTransient: the provider may answer differently later (timeouts,
	// connection errors, 5xx, 429, garbled replies). Keep the grant, retry later.
	errTransient errKind = iota
	// errPermanent: the provider rejected the grant (invalid_grant, a bare
	// 400/401). Retrying cannot help; only a new authorization can.
	errPermanent
	// errClient: the provider rejected this client's configuration
	// (invalid_client, unauthorized_client, an endpoint that is not a token
	// endpoint). The grant may be fine: fixing jawbone/config helps.
	errClient
)

// providerError is every error the client returns. It never holds a token or
// the client secret: only the operation, the kind and what the provider said.
type providerError struct {
	Op          string
	Kind        errKind
	Status      int
	Code        string // OAuth "error" or API meta.error_type
	Description string
	RetryAfter  time.Duration
	Err         error
	// MayHaveIssued is set when the request may have reached Jawbone and
	// produced a token we never saw (a timeout or broken connection after
	// sending, an unreadable 200): the previous access token may be dead.
	MayHaveIssued bool
}

func (e *providerError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "jawbone %s failed", e.Op)
	if e.Status != 0 {
		fmt.Fprintf(&b, " (HTTP %d)", e.Status)
	}
	if e.Code != "" {
		fmt.Fprintf(&b, ": %s", e.Code)
	}
	if e.Description != "" && e.Description != e.Code {
		fmt.Fprintf(&b, ": %s", e.Description)
	}
	if e.Err != nil {
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	return b.String()
}

func (e *providerError) Unwrap() error { return e.Err }

// isPermanent reports whether err is a provider rejection that retrying cannot fix.
func isPermanent(err error) bool { return kindOf(err) == errPermanent }

func kindOf(err error) errKind {
	var pe *providerError
	if errors.As(err, &pe) {
		return pe.Kind
	}
	return errTransient
}

// mayHaveIssued reports whether a failed refresh may still have replaced the
// access token at Jawbone. Unknown errors are assumed to have.
func mayHaveIssued(err error) bool {
	var pe *providerError
	return !errors.As(err, &pe) || pe.MayHaveIssued
}

// classify turns whatever x/oauth2 or net/http returned into a providerError.
func classify(op string, err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		return classifyRetrieveError(op, re)
	}
	// Only a failure to connect proves the request never reached Jawbone.
	pe := &providerError{Op: op, Kind: errTransient, Err: err, MayHaveIssued: !isDialError(err)}
	var netErr net.Error
	if errors.As(err, &netErr) && netErr.Timeout() {
		pe.Err = fmt.Errorf("timed out: %w", err)
	}
	return pe
}

func isDialError(err error) bool {
	var opErr *net.OpError
	return errors.As(err, &opErr) && opErr.Op == "dial"
}

func classifyRetrieveError(op string, re *oauth2.RetrieveError) error {
	status := 0
	var after time.Duration
	if re.Response != nil {
		status = re.Response.StatusCode
		after = retryAfter(re.Response)
	}
	pe := &providerError{Op: op, Status: status, Code: re.ErrorCode,
		Description: re.ErrorDescription, RetryAfter: after, Kind: kindForStatus(status)}
	switch re.ErrorCode {
	case "invalid_grant", "invalid_scope":
		pe.Kind = errPermanent
	case "invalid_client", "unauthorized_client", "unsupported_grant_type":
		pe.Kind = errClient
	case "temporarily_unavailable", "server_error":
		pe.Kind = errTransient
	case "":
		if status >= 200 && status < 300 {
			pe.Kind = errTransient
		}
	}
	if re.ErrorCode == "" && pe.Kind == errTransient {
		pe.Err = fmt.Errorf("unexpected reply: %s", snippet(re.Body))
	}
	return pe
}

// kindForStatus classifies a status code with no OAuth error code to go on.
func kindForStatus(status int) errKind {
	switch {
	case status == http.StatusTooManyRequests, status >= 500:
		return errTransient
	case status == http.StatusBadRequest, status == http.StatusUnauthorized:
		return errPermanent
	case status >= 400:
		return errClient
	default:
		return errTransient
	}
}

// retryAfter reads a Retry-After header in seconds or HTTP-date form.
func retryAfter(resp *http.Response) time.Duration {
	v := strings.TrimSpace(resp.Header.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if secs, err := strconv.Atoi(v); err == nil && secs > 0 {
		return time.Duration(secs) * time.Second
	}
	if at, err := http.ParseTime(v); err == nil {
		if d := time.Until(at); d > 0 {
			return d
		}
	}
	return 0
}

// snippet shows the start of an unexpected body without flooding an error.
func snippet(body []byte) string {
	const max = 120
	s := strings.ToValidUTF8(string(body), "?")
	if len(s) > max {
		return strconv.Quote(s[:max]) + "…"
	}
	return strconv.Quote(s)
}
