package jawbone

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// Kind says what a failed call means for the grant and whether retrying can
// help.
type Kind int

const (
	// Transient: Jawbone may answer differently later (timeouts, connection
	// errors, 5xx, 429, garbled replies). Keep the grant, retry later.
	Transient Kind = iota
	// GrantRejected: Jawbone rejected the grant (invalid_grant, a bare
	// 400/401). Retrying cannot help; only a new authorization can.
	GrantRejected
	// ClientRejected: Jawbone rejected this client's configuration
	// (invalid_client, unauthorized_client, an endpoint that is not a token
	// endpoint). The grant may be fine: fixing the client config helps.
	ClientRejected
)

// Error is every error the client returns. It never holds a token or the
// client secret: only the operation, the kind and what Jawbone said.
type Error struct {
	Op          string
	Kind        Kind
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

func (e *Error) Error() string {
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

func (e *Error) Unwrap() error { return e.Err }

// KindOf is the kind of a client error; anything else counts as transient.
func KindOf(err error) Kind {
	var je *Error
	if errors.As(err, &je) {
		return je.Kind
	}
	return Transient
}

// MayHaveIssued reports whether a failed refresh may still have replaced
// the access token at Jawbone. Unknown errors are assumed to have.
func MayHaveIssued(err error) bool {
	var je *Error
	return !errors.As(err, &je) || je.MayHaveIssued
}

// RetryAfter is how long Jawbone asked to wait before the next attempt, if
// it said.
func RetryAfter(err error) time.Duration {
	var je *Error
	if errors.As(err, &je) {
		return je.RetryAfter
	}
	return 0
}

// classify turns whatever x/oauth2 or net/http returned into an *Error.
func (c *Client) classify(op string, err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		return c.classifyRetrieveError(op, re)
	}
	// Only a failure to connect proves the request never reached Jawbone.
	je := &Error{Op: op, Kind: Transient, Err: err, MayHaveIssued: !isDialError(err)}
	var netErr net.Error
	if errors.As(err, &netErr) && netErr.Timeout() {
		je.Err = fmt.Errorf("timed out: %w", err)
	}
	return je
}

func isDialError(err error) bool {
	var opErr *net.OpError
	return errors.As(err, &opErr) && opErr.Op == "dial"
}

func (c *Client) classifyRetrieveError(op string, re *oauth2.RetrieveError) error {
	status := 0
	var after time.Duration
	if re.Response != nil {
		status = re.Response.StatusCode
		after = c.retryAfter(re.Response)
	}
	je := &Error{Op: op, Status: status, Code: re.ErrorCode,
		Description: re.ErrorDescription, RetryAfter: after, Kind: kindForStatus(status)}
	switch re.ErrorCode {
	case "invalid_grant", "invalid_scope":
		je.Kind = GrantRejected
	case "invalid_client", "unauthorized_client", "unsupported_grant_type":
		je.Kind = ClientRejected
	case "temporarily_unavailable", "server_error":
		je.Kind = Transient
	case "":
		if status >= 200 && status < 300 {
			je.Kind = Transient
		}
	}
	if re.ErrorCode == "" && je.Kind == Transient {
		je.Err = fmt.Errorf("unexpected reply: %s", snippet(re.Body))
	}
	return je
}

// kindForStatus classifies a status code with no OAuth error code to go on.
func kindForStatus(status int) Kind {
	switch {
	case status == http.StatusTooManyRequests, status >= 500:
		return Transient
	case status == http.StatusBadRequest, status == http.StatusUnauthorized:
		return GrantRejected
	case status >= 400:
		return ClientRejected
	default:
		return Transient
	}
}

// retryAfter reads a Retry-After header in seconds or HTTP-date form.
func (c *Client) retryAfter(resp *http.Response) time.Duration {
	v := strings.TrimSpace(resp.Header.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if secs, err := strconv.Atoi(v); err == nil && secs > 0 {
		return time.Duration(secs) * time.Second
	}
	if at, err := http.ParseTime(v); err == nil {
		if d := at.Sub(c.now()); d > 0 {
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
