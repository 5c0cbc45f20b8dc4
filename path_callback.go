package jawbone

import (
	"context"
	"errors"
	"maps"
	"net/http"
	"strings"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
)

const pathCallbackSynopsis = "Where Jawbone sends the browser back to Vault (no token needed; answers with an HTML page)."

const pathCallbackHelp = `
The OAuth 2.0 redirect endpoint of this mount, for the flow without
copy-paste. It is unauthenticated: the browser that comes back from Jawbone's
consent page carries no Vault token. To use it, point the config's
redirect_uri at it (and register the same URI with Jawbone):

    $ vault write jawbone/config redirect_uri=https://vault.example.com/v1/jawbone/callback

Then open the URL from jawbone/auth-url (its reply says callback_in_use=true),
allow access, and the browser lands here with ?code=...&state=... . Vault
checks the state exactly as jawbone/exchange does (it must come from
auth-url, be unexpired and unused; it is spent on the first try), and
completes only authorizations started while redirect_uri was this callback:
one of the paste flow needs jawbone/exchange, and a Vault token. It exchanges
the code, stores the tokens as the creds named when the auth-url was made,
and shows a page saying which creds were filled. Read the token with
vault read jawbone/creds/<name>.

Query parameters, as Jawbone sends them:
  code               the authorization code
  state              the state from auth-url
  error              set instead of code when access was denied
  error_description  Jawbone's explanation of error

Everything else (a denial, a missing, unknown, expired or used state, a
repeated parameter, a query over 8 KiB) gets a 4xx page saying what went
wrong and what to run next, and stores no creds; only a valid, unused
state leads to a call to Jawbone. A state used again is told what became
of its first use: a reload of the success page says the access was
granted already (200), one sent while the first is still at Jawbone that
it is being granted (409). Pages carry no token or secret, set no
cookie and are sent with Cache-Control: no-store.

jawbone/exchange keeps working for a redirect_uri elsewhere.
`

// pathCallback is the redirect endpoint. It declares no Fields on purpose:
// the framework validates fields before the handler runs and would answer a
// repeated parameter with a JSON error, while a browser must always get a
// page. The parameters are read from req.Data (see callbackQuery).
func (b *backend) pathCallback() *framework.Path {
	return &framework.Path{
		Pattern: callbackPath + "$",
		DisplayAttrs: &framework.DisplayAttributes{
			OperationPrefix: "jawbone",
			OperationVerb:   "complete",
			OperationSuffix: "authorization-callback",
		},
		TakesArbitraryInput: true,
		Operations: map[logical.Operation]framework.OperationHandler{
			// A GET, but it spends the state and stores tokens: on a
			// performance standby or secondary it runs where writes land.
			// It answers with pages, not errors, so it is not strict.
			logical.ReadOperation: forwarded(b.handleCallback),
		},
		HelpSynopsis:    pathCallbackSynopsis,
		HelpDescription: strings.TrimSpace(pathCallbackHelp),
	}
}

func (b *backend) handleCallback(ctx context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	mount := mountOf(req)
	r, done, err := b.completeCallback(ctx, req.Storage, mount, req.Data)
	switch {
	case err == nil:
		return pageResponse(http.StatusOK, successPage(mount, done))
	case errors.Is(err, logical.ErrReadOnly):
		return nil, logical.ErrReadOnly // unwrapped, so Vault forwards the request
	}
	var re *requestError
	if errors.As(err, &re) {
		// Anyone can hit this path: refusals are logged only at debug level
		// so that junk requests cannot flood the log.
		b.log().Debug("callback refused", "status", re.status, "reason", re.msg)
	} else {
		b.log().Error("callback failed", "error", err)
	}
	return pageResponse(failurePage(mount, r, boundName(r), err))
}

// boundName is the creds name the redirect's state was bound to, if known.
func boundName(r *redirect) string {
	if r == nil {
		return ""
	}
	return r.name
}

// pageResponse answers with p as an HTML page. Vault sends a raw response
// with Cache-Control no-store (set here and by Vault for every response)
// and never sets a cookie.
func pageResponse(status int, p page) (*logical.Response, error) {
	body, err := p.render()
	if err != nil {
		return nil, err
	}
	reply := rawReply(status, "text/html; charset=utf-8", body)
	reply.Data[logical.HTTPCacheControlHeader] = "no-store"
	reply.Data[logical.HTTPPragmaHeader] = "no-cache"
	reply.Headers = maps.Clone(pageHeaders)
	return reply, nil
}
