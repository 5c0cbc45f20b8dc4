package jawbone

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/jawbone-vault/vault-plugin-secrets-jawbone/internal/jawbone"
)

// requestError is an error the caller can act on, with the HTTP status Vault
// should answer with. Anything else a handler returns is an internal error.
type requestError struct {
	status int
	msg    string // what is wrong
	fix    remedy // what to do about it; nil when msg says it all
	// public is what the error says to a reader who is not a user of the
	// mount (the callback's anonymous browser) when msg says more than
	// such a reader may know: what a provider said, another Jawbone
	// account's id, another creds' name. nil when msg may be shown to
	// anyone.
	public *requestError
	// completed names the creds an authorization used again had stored,
	// for the callback to show the browser the success it reloaded;
	// inProgress names the creds one used again is still filling.
	completed, inProgress string
}

// remedy is advice that names vault commands. It is written for the mount
// the request came in on, which only the handler knows, so it is rendered
// when the error becomes a reply.
type remedy func(mount string) string

// Error is the message without the remedy: what goes into logs, which are
// not read at a prompt on one mount.
func (e *requestError) Error() string { return e.msg }

// text is the whole message as the caller on mount reads it.
func (e *requestError) text(mount string) string {
	if e.fix == nil {
		return e.msg
	}
	return e.msg + "; " + e.fix(mount)
}

func (e *requestError) withFix(fix remedy) *requestError {
	e.fix = fix
	return e
}

// withPublic sets what the error says to a reader who is not a user of the
// mount; its remedy, unless it has one, is e's.
func (e *requestError) withPublic(public *requestError) *requestError {
	e.public = public
	return e
}

// forAnyone is the whole message as a reader who is not a user of the
// mount may read it on mount.
func (e *requestError) forAnyone(mount string) string {
	if e.public == nil {
		return e.text(mount)
	}
	p := *e.public
	if p.fix == nil {
		p.fix = e.fix
	}
	return p.text(mount)
}

// badRequest: the input is wrong; the message names the field and the fix.
func badRequest(format string, args ...any) *requestError {
	return &requestError{status: http.StatusBadRequest, msg: fmt.Sprintf(format, args...)}
}

// notFound: the named thing does not exist.
func notFound(format string, args ...any) *requestError {
	return &requestError{status: http.StatusNotFound, msg: fmt.Sprintf(format, args...)}
}

// conflict: the request cannot be done now without undoing another; it can
// be done later.
func conflict(format string, args ...any) *requestError {
	return &requestError{status: http.StatusConflict, msg: fmt.Sprintf(format, args...)}
}

// badGateway: Jawbone failed in a way that may pass; retrying later can help.
func badGateway(format string, args ...any) *requestError {
	return &requestError{status: http.StatusBadGateway, msg: fmt.Sprintf(format, args...)}
}

// respond is the one place errors become Vault responses, worded for the
// mount the request came in on: 400s as error responses, other request
// errors as coded errors, the rest as coded 500s (Vault runs the plugin
// with the coded errors as error replies: servedBackend). ErrReadOnly goes
// back unwrapped so that Vault forwards the request to a node that can
// write.
func respond(mount string, err error) (*logical.Response, error) {
	if errors.Is(err, logical.ErrReadOnly) {
		return nil, logical.ErrReadOnly
	}
	var re *requestError
	if !errors.As(err, &re) {
		return nil, logical.CodedError(http.StatusInternalServerError, err.Error())
	}
	if re.status == http.StatusBadRequest {
		return logical.ErrorResponse(re.text(mount)), nil
	}
	return nil, logical.CodedError(re.status, re.text(mount))
}

// servedBackend is the backend as Vault runs it (Factory). Vault wraps an
// error a plugin returns in words of its own ("1 error occurred: * …")
// before the caller sees it, while a 400 error response reads as the
// plugin wrote it. So each coded error (404, 405, 409, 500, 502) leaves
// the plugin as an error reply: its status, and the body Vault gives its
// own errors, {"errors": [msg]}, which the CLI shows as it shows a 400's.
// Within the plugin, and in its tests, an error keeps its kind.
type servedBackend struct{ *backend }

func (s servedBackend) HandleRequest(ctx context.Context, req *logical.Request) (*logical.Response, error) {
	resp, err := s.backend.HandleRequest(ctx, req)
	var coded logical.HTTPCodedError
	if err == nil || !errors.As(err, &coded) {
		return resp, err
	}
	return errorReply(coded.Code(), coded.Error())
}

// errorReply answers status with msg as Vault answers its own errors. The
// text goes in Warnings too: a raw reply does not send them, but the audit
// log keeps them readable, where it HMACs a reply's body.
func errorReply(status int, msg string) (*logical.Response, error) {
	body, err := json.Marshal(struct {
		Errors []string `json:"errors"`
	}{[]string{msg}})
	if err != nil {
		return nil, err
	}
	reply := rawReply(status, "application/json", body)
	reply.Warnings = []string{msg}
	return reply, nil
}

// rawReply is a reply Vault sends as it is: its status, content type and
// body.
func rawReply(status int, contentType string, body []byte) *logical.Response {
	return &logical.Response{Data: map[string]any{
		logical.HTTPStatusCode:  status,
		logical.HTTPContentType: contentType,
		logical.HTTPRawBody:     body,
	}}
}

// mountOf is the mount a request came in on, for the commands replies
// suggest ("jawbone/" outside Vault, as in unit tests).
func mountOf(req *logical.Request) string {
	if req.MountPoint == "" {
		return "jawbone/"
	}
	return req.MountPoint
}

// vaultCmd is a command on mount: vaultCmd("jawbone/", "read", "creds/me")
// is "vault read jawbone/creds/me".
func vaultCmd(mount, verb, rest string) string {
	return "vault " + verb + " " + mount + rest
}

// providerFailure words a Jawbone failure for the caller, with one remedy
// for each kind of failure: a rejection of the grant or token is the
// caller's to fix (400, with onRejected), as is a refusal of the client or
// of the way to Jawbone (400); anything else may pass (502, with onRetry, or
// "try again later" when nil).
func providerFailure(err error, onRejected, onRetry remedy) error {
	var je *jawbone.Error
	errors.As(err, &je)
	status, fix := http.StatusBadGateway, onRetry
	switch kind := jawbone.KindOf(err); {
	case kind == jawbone.GrantRejected, kind == jawbone.TokenRejected:
		status, fix = http.StatusBadRequest, onRejected
	case kind == jawbone.ClientRejected && je != nil && je.Location != "":
		status, fix = http.StatusBadRequest, fixRedirected
	case kind == jawbone.ClientRejected && je != nil && je.Code == "":
		status, fix = http.StatusBadRequest, fixNotJawbone
	case kind == jawbone.ClientRejected:
		status, fix = http.StatusBadRequest, fixClientConfig
	case jawbone.Unreachable(err):
		fix = fixUnreachable
	case je != nil && je.Incomplete:
		fix = fixNotATokenEndpoint
	case onRetry == nil:
		fix = fixTryLater
	}
	re := &requestError{status: status, msg: err.Error(), fix: fix}
	if je != nil {
		// Jawbone's own words (blanked of every secret) are for the
		// mount's users; anyone else is told the error code.
		re.public = &requestError{status: status, msg: je.Summary()}
	}
	return re
}

// The remedies, one per situation.

func fixTryLater(string) string { return "Jawbone may be unavailable: try again later" }

func fixUnreachable(m string) string {
	return "Vault could not reach Jawbone: check, from the Vault server, DNS, the proxy and the firewall for token_url and api_url (" +
		vaultCmd(m, "read", "config") + " shows them), then try again"
}

func fixRedirected(m string) string {
	return "Jawbone's endpoints answer directly and a redirect is never followed (it would carry the client secret elsewhere): set the URL it was asked at to the endpoint itself with " +
		vaultCmd(m, "write", "config token_url=... api_url=...")
}

func fixNotJawbone(m string) string {
	return "the reply carries no OAuth error, so it came from something between Vault and Jawbone (a proxy, a firewall) or from a URL that is not Jawbone's endpoint: check token_url and api_url with " +
		vaultCmd(m, "read", "config") + "; the grant is kept and retried"
}

func fixNotATokenEndpoint(m string) string {
	return "Jawbone's token endpoint always sends one, so token_url is not Jawbone's (or a compatible server's) token endpoint: check it with " +
		vaultCmd(m, "read", "config")
}

func fixClientConfig(m string) string {
	return "Jawbone refused this client: check client_id, client_secret and token_url with " +
		vaultCmd(m, "read", "config") + " and rewrite them with " + vaultCmd(m, "write", "config")
}

func fixLocalDevelopment(m string) string {
	return "against a local fake or test server, set it with " + vaultCmd(m, "write", "config "+keyLocalDevelopment+"=true") +
		"; never on a server that holds real grants"
}

func fixEndpointsTogether(m string) string {
	return "set both to the same Jawbone-compatible server, or neither: " + vaultCmd(m, "write", "config "+keyTokenURL+"=... "+keyAPIURL+"=...")
}

func fixConfigure(m string) string {
	return "write " + m + "config first (client_id, client_secret, redirect_uri): " +
		vaultCmd(m, "write", "config client_id=... client_secret=... redirect_uri=...")
}

func fixConfigField(key string) remedy {
	return func(m string) string { return "set it with " + vaultCmd(m, "write", "config "+key+"=<value>") }
}

func fixRestart(m string) string { return "start again with " + vaultCmd(m, "read", "auth-url") }

// fixRestartFor starts again for the name the state was bound to, when it
// is known.
func fixRestartFor(pending *pendingAuth) remedy {
	if pending == nil {
		return fixRestart
	}
	return func(m string) string {
		return "start again with " + vaultCmd(m, "read", "auth-url name="+pending.Name)
	}
}

func fixReadCreds(name string) remedy {
	return func(m string) string { return "read them with " + vaultCmd(m, "read", "creds/"+name) }
}

func fixNameStatesFull(name string, oldestExpires time.Time) remedy {
	return func(m string) string {
		return "wait until " + oldestExpires.UTC().Format(time.RFC3339) + ", when the oldest expires, then run " + vaultCmd(m, "read", "auth-url name="+name) + " again"
	}
}

func fixTooManyStates(name string) remedy {
	return func(m string) string {
		return "wait until one expires, then run " + vaultCmd(m, "read", "auth-url name="+name) + " again"
	}
}

func fixCodeExpired(m string) string {
	return "codes work once and live 10 minutes: " + fixRestart(m)
}

func fixRestartLater(m string) string {
	return "Jawbone may be unavailable: try again later, from the start (the code is spent) with " + vaultCmd(m, "read", "auth-url")
}

func fixReplace(name string) remedy {
	return func(m string) string {
		return "to replace it with a new authorization, run " + vaultCmd(m, "read", "auth-url name="+name+" "+keyReplace+"=true")
	}
}

func fixReauth(name string) remedy {
	return func(m string) string {
		return "authorize again with " + vaultCmd(m, "read", "auth-url name="+name) + " and " + vaultCmd(m, "write", "exchange")
	}
}

func fixMissingCreds(name string) remedy {
	return func(m string) string {
		return "authorize with " + vaultCmd(m, "read", "auth-url name="+name) + " and " + vaultCmd(m, "write", "exchange") +
			", or import with " + vaultCmd(m, "write", "creds/"+name+" refresh_token=...")
	}
}

func fixRefreshLater(name string) remedy {
	return func(m string) string {
		return "reads keep handing out the current token, with a warning, while Jawbone still accepts it; force a refresh after that time with " +
			vaultCmd(m, "write -f", "creds/"+name+"/refresh")
	}
}

func fixForgetAnyway(name string) remedy {
	return func(m string) string {
		return "try again with " + vaultCmd(m, "write -f", "creds/"+name+"/revoke") +
			", or forget the creds without disconnecting with " + vaultCmd(m, "delete", "creds/"+name)
	}
}

func fixRetryRefresh(name string) remedy {
	return func(m string) string {
		return "the refresh token is kept and the refresh is retried automatically, or now with " +
			vaultCmd(m, "write -f", "creds/"+name+"/refresh")
	}
}
