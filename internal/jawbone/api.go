package jawbone

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
)

// Account is the Jawbone account a token belongs to.
type Account struct {
	// XID is the account's id (meta.user_xid): the same for every token
	// of the account (inferred: it is the account's id).
	XID string
}

// envelope is the meta/data wrapper of every Jawbone API reply.
type envelope struct {
	Meta struct {
		Code        int    `json:"code"`
		UserXID     string `json:"user_xid"`
		ErrorType   string `json:"error_type"`
		ErrorDetail string `json:"error_detail"`
	} `json:"meta"`
	Data json.RawMessage `json:"data"`
}

// Me asks the API whose account accessToken belongs to. Only Jawbone's own
// answer counts: a 200 in its envelope with a user_xid. A 401 in the
// envelope is an *Error of kind TokenRejected; anything else (a captive
// portal's page, a proxy's 401, a 5xx) is no answer.
func (c *Client) Me(ctx context.Context, accessToken string) (*Account, error) {
	const op = "check access token"
	env, err := c.newCall(op, accessToken).api(ctx, http.MethodGet, "/users/@me", accessToken, nil)
	if err != nil {
		return nil, err
	}
	switch xid := env.Meta.UserXID; {
	case xid == "":
		return nil, &Error{Op: op, Kind: Transient, Status: http.StatusOK, Err: errors.New("the reply names no account (meta.user_xid)")}
	case !accountXID.MatchString(xid):
		// Not repeated: it is shown nowhere, as it is not Jawbone's.
		return nil, &Error{Op: op, Kind: Transient, Status: http.StatusOK,
			Err: fmt.Errorf("the reply names an account (meta.user_xid, %d bytes) that is not 1 to %d letters, digits, '_' or '-', as Jawbone's are", len(xid), maxAccountXIDLen)}
	}
	return &Account{XID: env.Meta.UserXID}, nil
}

// maxAccountXIDLen bounds an account's user_xid. Jawbone's were short
// base64url strings (22 characters); the xid is shown in CLI output, on
// the callback's page and in the log, so anything else is refused.
const maxAccountXIDLen = 64

var accountXID = regexp.MustCompile(fmt.Sprintf(`^[A-Za-z0-9_-]{1,%d}$`, maxAccountXIDLen))

// RecoverRefreshToken asks the API for the refresh token of the grant an
// access token belongs to (kiefer's get_refresh_token).
func (c *Client) RecoverRefreshToken(ctx context.Context, accessToken string) (string, error) {
	const op = "recover refresh token"
	k := c.newCall(op, accessToken)
	k.answersWithAToken = true
	form := url.Values{"secret": {c.secret}}
	env, err := k.api(ctx, http.MethodPost, "/users/@me/refreshToken", accessToken, form)
	if err != nil {
		return "", err
	}
	var data struct {
		RefreshToken string `json:"refresh_token"`
	}
	if json.Unmarshal(env.Data, &data) != nil || data.RefreshToken == "" {
		return "", &Error{Op: op, Kind: Transient, Status: http.StatusOK, Err: errors.New("the reply carries no data.refresh_token")}
	}
	return data.RefreshToken, nil
}

// Disconnect removes the app from the account accessToken belongs to
// (DELETE users/@me/PartnerAppMembership): afterwards none of the app's
// tokens for that account work.
func (c *Client) Disconnect(ctx context.Context, accessToken string) error {
	_, err := c.newCall("disconnect the app", accessToken).api(ctx, http.MethodDelete, "/users/@me/PartnerAppMembership", accessToken, nil)
	return err
}

// api makes the call to the API, with accessToken, and reads Jawbone's
// envelope from the reply. A reply that is not in the envelope is never
// taken for Jawbone's answer.
func (k *call) api(ctx context.Context, method, path, accessToken string, form url.Values) (*envelope, error) {
	op := k.op
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, k.apiURL+path, body)
	if err != nil {
		return nil, k.fail(&Error{Op: op, Kind: ClientRejected, Err: err})
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Authorization", "Bearer "+accessToken)
	resp, err := k.http.Do(req)
	if err != nil {
		return nil, k.fail(transportError(op, err))
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxReplyBytes))
	if err != nil {
		return nil, k.fail(transportError(op, err))
	}
	var env envelope
	inEnvelope := json.Unmarshal(raw, &env) == nil && env.Meta.Code == resp.StatusCode
	switch {
	case resp.StatusCode == http.StatusOK && inEnvelope:
		return &env, nil
	case resp.StatusCode == http.StatusUnauthorized && inEnvelope:
		return nil, k.apiError(TokenRejected, resp, &env)
	case inEnvelope && resp.StatusCode >= 400 && resp.StatusCode < 500 && resp.StatusCode != http.StatusTooManyRequests:
		return nil, k.apiError(ClientRejected, resp, &env)
	case inEnvelope:
		return nil, k.apiError(Transient, resp, &env)
	}
	k.debugBody(resp.StatusCode, raw)
	je := &Error{Op: op, Kind: Transient, Status: resp.StatusCode, RetryAfter: k.retryAfter(resp),
		Err: errors.New("the reply is not Jawbone's API envelope"), Outcome: outcomeOfReply(resp.StatusCode, false)}
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		je.Kind, je.Location, je.Err = ClientRejected, k.redirectTarget(resp), nil
	}
	return nil, je
}

// apiError is the error the API said in its envelope.
func (k *call) apiError(kind Kind, resp *http.Response, env *envelope) *Error {
	return &Error{Op: k.op, Kind: kind, Status: resp.StatusCode, RetryAfter: k.retryAfter(resp),
		Code: k.said(env.Meta.ErrorType, maxCodeLen), Description: k.said(env.Meta.ErrorDetail, maxDescriptionLen),
		Outcome: outcomeOfReply(resp.StatusCode, true)}
}
