package jawbone

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"golang.org/x/oauth2"
)

// Kind says what a failed call means for the grant and whether retrying can
// help.
type Kind int

const (
	// Transient: Jawbone may answer differently later (timeouts, connection
	// errors, 5xx, 429, replies that cannot be read). Keep the grant, retry
	// later.
	Transient Kind = iota
	// GrantRejected: Jawbone said invalid_grant: the grant is dead, and only
	// a new authorization can replace it.
	GrantRejected
	// ClientRejected: the token endpoint refused this client or this
	// request without saying the grant is dead: invalid_client,
	// unauthorized_client, invalid_scope, any other OAuth error code, a 4xx
	// without an OAuth error code (a proxy, a firewall, a wrong token_url)
	// or a redirect. The grant may be fine; the config or the way to
	// Jawbone is not.
	ClientRejected
	// TokenRejected: the API answered 401 in its own envelope: it does not
	// accept this access token (expired, replaced by a refresh, revoked).
	TokenRejected
)

// Error is every error the client returns. It never holds a token, the
// client secret or a reply's raw body: only the operation, the kind, the
// HTTP status and what Jawbone said in the fields meant for that.
type Error struct {
	Op          string
	Kind        Kind
	Status      int
	Code        string // OAuth "error" or the API's meta.error_type
	Description string // bounded and stripped of control characters
	RetryAfter  time.Duration
	// Location is where a redirect pointed (scheme, host and path only).
	Location string
	Err      error
	// Outcome is what the answer proves about whether Jawbone carried the
	// call out (see outcomeOfReply).
	Outcome Outcome
	// Unreachable is set when the request never reached a server: the
	// host does not resolve, nothing listens, TLS failed.
	Unreachable bool
	// Incomplete is set when the endpoint answered a well-formed success
	// that lacks what Jawbone's always carries (an exchange without a
	// refresh token): asking again will not help, and the endpoint is not
	// behaving as Jawbone's.
	Incomplete bool
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
	if e.Location != "" {
		fmt.Fprintf(&b, ": a redirect to %s", e.Location)
	}
	if e.Err != nil {
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Summary is the error without anything the server said but a well-formed
// error code: the operation, the HTTP status and the code. It is what may
// be shown to someone who is not the caller.
func (e *Error) Summary() string {
	s := "jawbone " + e.Op + " failed"
	if e.Status != 0 {
		s += fmt.Sprintf(" (HTTP %d)", e.Status)
	}
	if IsErrorCode(e.Code) {
		s += ": " + e.Code
	}
	return s
}

// errorCode is the character set of an OAuth 2.0 error code (RFC 6749,
// appendix A.7), narrowed to what Jawbone and the RFC use.
var errorCode = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

// IsErrorCode reports whether code is a well-formed OAuth error code.
func IsErrorCode(code string) bool { return errorCode.MatchString(code) }

// KindOf is the kind of a client error; anything else counts as transient.
func KindOf(err error) Kind {
	var je *Error
	if errors.As(err, &je) {
		return je.Kind
	}
	return Transient
}

// Outcome is what the answer to a call that can change something at
// Jawbone (a refresh or a code exchange, which can replace an access
// token; a disconnect, which ends a whole account's) proves about whether
// Jawbone carried it out.
type Outcome int

const (
	// NotCarriedOut: the answer proves that Jawbone did not carry it out.
	NotCarriedOut Outcome = iota
	// Unknown: Jawbone may have carried it out, and may still: no answer
	// says, and the request may still be at Jawbone.
	Unknown
	// UnknownFinished: Jawbone may have carried it out, but is done with
	// it: an answer came, but not Jawbone's.
	UnknownFinished
)

// outcomeOfReply is the one place that decides what an HTTP answer to such
// a call proves (docs/operations.md has the same table); outcomeOfTransport
// decides for a request that got no answer:
//
//	the answer                                           what it proves
//	Jawbone's own refusal: an OAuth error from the        not carried out
//	  token endpoint, an API reply in Jawbone's envelope
//	429 Too Many Requests                                 not carried out
//	a 2xx that is not Jawbone's answer (unreadable)       unknown; Jawbone is done with it
//	anything else: a 5xx, 4xx or 3xx without Jawbone's    unknown, and it may still be
//	  own words (a gateway that gave up, a proxy)           carried out
//	never sent: the name does not resolve, nothing        not carried out
//	  listens, TLS failed
//	sent, and no answer: a timeout, a broken connection   unknown, and it may still be
//	                                                        carried out
//
// Only Jawbone itself can say it did not carry a request out: a gateway's
// 502 or 504 may come while Jawbone carries on.
func outcomeOfReply(status int, jawbonesOwn bool) Outcome {
	switch {
	case jawbonesOwn, status == http.StatusTooManyRequests:
		return NotCarriedOut
	case status >= 200 && status < 300:
		return UnknownFinished
	}
	return Unknown
}

// OutcomeOf is what err proves about whether the call was carried out; an
// error that is not this package's proves nothing.
func OutcomeOf(err error) Outcome {
	var je *Error
	if !errors.As(err, &je) {
		return Unknown
	}
	return je.Outcome
}

// MayHaveIssued reports whether a failed call may have been carried out at
// Jawbone: a refresh may have replaced the access token.
func MayHaveIssued(err error) bool { return OutcomeOf(err) != NotCarriedOut }

// InFlight reports whether Jawbone may still carry the call out after err.
func InFlight(err error) bool { return OutcomeOf(err) == Unknown }

// Unreachable reports whether err is a request that never reached a
// server.
func Unreachable(err error) bool {
	var je *Error
	return errors.As(err, &je) && je.Unreachable
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

// transportError classifies a request that got no HTTP reply.
func transportError(op string, err error) *Error {
	je := &Error{Op: op, Kind: Transient, Err: err}
	switch {
	case isDialError(err):
		je.Unreachable = true
	case isTLSError(err):
		je.Unreachable = true
	default:
		// Only a failure to connect proves the request never reached
		// Jawbone; anything later may have been processed there, or still
		// be.
		je.Outcome = Unknown
	}
	var netErr net.Error
	if errors.As(err, &netErr) && netErr.Timeout() {
		je.Err = fmt.Errorf("timed out: %w", err)
	}
	return je
}

func isDialError(err error) bool {
	var opErr *net.OpError
	var dnsErr *net.DNSError
	return errors.As(err, &dnsErr) || (errors.As(err, &opErr) && opErr.Op == "dial")
}

func isTLSError(err error) bool {
	var unknown x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var invalid x509.CertificateInvalidError
	var record tls.RecordHeaderError
	var verify *tls.CertificateVerificationError
	return errors.As(err, &unknown) || errors.As(err, &hostname) || errors.As(err, &invalid) ||
		errors.As(err, &record) || errors.As(err, &verify)
}

// classifyToken turns what x/oauth2 returned for the call's token request
// into an *Error.
func (k *call) classifyToken(err error) error {
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		if isParseError(err) {
			// A 2xx whose body is not a token reply: whatever Jawbone did
			// with the request, we did not see a token. x/oauth2's words
			// say why without quoting the body.
			why := k.said(strings.TrimPrefix(err.Error(), "oauth2: "), maxDescriptionLen)
			return &Error{Op: k.op, Kind: Transient, Err: fmt.Errorf("the reply is not a token reply (%s)", why), Outcome: outcomeOfReply(http.StatusOK, false)}
		}
		return k.fail(transportError(k.op, err))
	}
	je := &Error{Op: k.op, Code: k.said(re.ErrorCode, maxCodeLen), Description: k.said(re.ErrorDescription, maxDescriptionLen)}
	if re.Response != nil {
		je.Status = re.Response.StatusCode
		je.RetryAfter = k.retryAfter(re.Response)
	}
	je.Kind = kindOfTokenReply(je.Status, re.ErrorCode)
	je.Outcome = outcomeOfReply(je.Status, re.ErrorCode != "")
	switch {
	case je.Status >= 300 && je.Status < 400:
		je.Location = k.redirectTarget(re.Response)
	case re.ErrorCode == "" && je.Status >= 200 && je.Status < 300:
		je.Err = errors.New("the reply is not a token reply")
	case re.ErrorCode == "" && je.Kind == Transient:
		je.Err = errors.New("no OAuth error in the reply")
	}
	if je.Status >= 300 {
		k.debugBody(je.Status, re.Body)
	}
	return je
}

// kindOfTokenReply classifies a token endpoint's error reply. Only
// invalid_grant says that the grant is dead.
func kindOfTokenReply(status int, code string) Kind {
	switch code {
	case "invalid_grant":
		return GrantRejected
	case "temporarily_unavailable", "server_error":
		return Transient
	case "":
		switch {
		case status == http.StatusTooManyRequests, status >= 500, status < 300:
			return Transient
		default: // a redirect or a 4xx without an OAuth error
			return ClientRejected
		}
	default:
		return ClientRejected
	}
}

func isParseError(err error) bool {
	msg := err.Error()
	return strings.HasPrefix(msg, "oauth2: cannot parse") || strings.HasPrefix(msg, "oauth2: server response missing access_token")
}

// redirectTarget is where a redirect pointed, without its query (which
// could carry anything).
func (k *call) redirectTarget(resp *http.Response) string {
	if resp == nil {
		return ""
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || resp.Header.Get("Location") == "" {
		return "an unreadable location"
	}
	if resp.Request != nil && resp.Request.URL != nil {
		loc = resp.Request.URL.ResolveReference(loc)
	}
	return k.said(loc.Scheme+"://"+loc.Host+loc.Path, maxDescriptionLen)
}

// retryAfter reads a Retry-After header in seconds or HTTP-date form.
func (c *Client) retryAfter(resp *http.Response) time.Duration {
	v := strings.TrimSpace(resp.Header.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil && secs > 0 {
		// Bounded before it is multiplied: a huge value must not overflow
		// into a short wait.
		return time.Duration(min(secs, maxRetryAfterSeconds)) * time.Second
	}
	if at, err := http.ParseTime(v); err == nil {
		if d := at.Sub(c.now()); d > 0 {
			return d
		}
	}
	return 0
}

// maxRetryAfterSeconds bounds a Retry-After in seconds (a year): the
// engine caps it lower still.
const maxRetryAfterSeconds = 366 * 24 * 3600

// Bounds on what of Jawbone's own words an error carries.
const (
	maxCodeLen        = 64
	maxDescriptionLen = 200
	maxDebugBodyLen   = 512
)

// Printable is what a server, or whoever forged a redirect in its name,
// said, fit to repeat: printable and cut to its description's bound. It
// blanks no secret: use it only for text that came with none of ours.
func Printable(s string) string { return sanitize(s, maxDescriptionLen) }

// sanitize keeps s printable and short: it ends up in replies, stored
// last_error fields and logs, and it comes from a server.
func sanitize(s string, limit int) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == unicode.ReplacementChar {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(s, " "))
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > limit {
		cut := limit
		for cut > 0 && !isRuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }

// debugBody logs what an unexpected reply was like, at debug level, never
// in an error, which reaches the caller. A page (a proxy's, a captive
// portal's) is logged by its start, with the call's secrets blanked: it is
// what says who answered. Any other body can hold a token the server
// issued (a token reply, the recovery's data.refresh_token, a form), which
// blanking the secrets we sent cannot catch, and neither can a page the
// recovery gets, whose answer is a refresh token: those are logged by
// their shape only, their length and the names of their keys.
func (k *call) debugBody(status int, body []byte) {
	if k.debug == nil || len(body) == 0 {
		return
	}
	if isMarkup(body) && !k.answersWithAToken {
		k.debug("unexpected reply from jawbone", "op", k.op, "status", status, "body", k.said(string(body), maxDebugBodyLen))
		return
	}
	k.debug("unexpected reply from jawbone (its body can hold a token, so only its shape is logged)",
		"op", k.op, "status", status, "bytes", len(body), "keys", bodyKeys(body))
}

// isMarkup reports whether body is an HTML or XML page.
func isMarkup(body []byte) bool {
	return bytes.HasPrefix(bytes.TrimSpace(body), []byte("<"))
}

// Bounds on a logged shape: names of fields, not values that could be a
// token (a token is longer, and has no reason to be a key).
const maxShapeKeys = 20

var fieldName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_@-]{0,31}$`)

// bodyKeys names the keys of a JSON object (those of nested objects as
// a.b) or of a form, sorted; keys that do not look like field names are
// only counted.
func bodyKeys(body []byte) []string {
	var keys []string
	var doc any
	if json.Unmarshal(body, &doc) == nil {
		keys = jsonKeys("", doc, 2)
	} else if form, err := url.ParseQuery(string(body)); err == nil && bytes.Contains(body, []byte("=")) {
		for key := range form {
			keys = append(keys, key)
		}
	}
	named, others := keys[:0], 0
	for _, key := range keys {
		if last := key[strings.LastIndex(key, ".")+1:]; fieldName.MatchString(last) && len(named) < maxShapeKeys {
			named = append(named, key)
		} else {
			others++
		}
	}
	slices.Sort(named)
	if others > 0 {
		named = append(named, fmt.Sprintf("(%d other keys)", others))
	}
	return named
}

// jsonKeys are the keys of v under prefix, down to depth levels.
func jsonKeys(prefix string, v any, depth int) []string {
	obj, ok := v.(map[string]any)
	if !ok || depth == 0 {
		return nil
	}
	var keys []string
	for key, val := range obj {
		if nested := jsonKeys(prefix+key+".", val, depth-1); len(nested) > 0 {
			keys = append(keys, nested...)
		} else {
			keys = append(keys, prefix+key)
		}
	}
	return keys
}

// call is one request to Jawbone as its errors see it: the operation, and
// every secret the request carried (the client secret always). A server
// may repeat any of them in what it answers ("wrong client for this
// refresh token: …", an echo of the form it got), so nothing it says
// reaches an error or a log before they are blanked.
type call struct {
	*Client
	op      string
	secrets []string
	// answersWithAToken: the call's reply is a refresh token, whatever
	// form it takes (the recovery).
	answersWithAToken bool
}

// newCall is the call op makes, carrying sent besides the client secret.
func (c *Client) newCall(op string, sent ...string) *call {
	k := &call{Client: c, op: op}
	for _, s := range append(sent, c.secret) {
		if s != "" {
			k.secrets = append(k.secrets, s)
		}
	}
	return k
}

// redacted stands where a secret was.
const redacted = "[redacted]"

// said is what a server said, fit to repeat: every secret of the call
// blanked, and only then cut to limit, so that the cut cannot leave the
// start of one behind.
func (k *call) said(text string, limit int) string {
	return sanitize(k.blank(text), limit)
}

// blank replaces every secret of the call in text, in each form a server
// could echo it.
func (k *call) blank(text string) string {
	for _, s := range k.secrets {
		for _, form := range echoForms(s) {
			text = strings.ReplaceAll(text, form, redacted)
		}
	}
	return text
}

// echoForms are the ways a server may write back a secret it received:
// as is, form- or path-encoded, or JSON-escaped with "\/".
func echoForms(secret string) []string {
	return []string{secret, url.QueryEscape(secret), url.PathEscape(secret), strings.ReplaceAll(secret, "/", `\/`)}
}

// fail is je with the call's secrets blanked from the error it wraps too
// (Code, Description and Location are blanked as they are read).
func (k *call) fail(je *Error) *Error {
	if je.Err != nil {
		if text := je.Err.Error(); k.blank(text) != text {
			je.Err = errors.New(k.said(text, maxDescriptionLen))
		}
	}
	return je
}
