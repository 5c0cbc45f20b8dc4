package jawbone

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
)

const (
	// callbackPath is the unauthenticated path Jawbone redirects the browser
	// to when redirect_uri is https://<vault>/v1/<mount>callback.
	callbackPath = "callback"

	keyError            = "error"
	keyErrorDescription = "error_description"

	// maxCallbackQueryBytes bounds the whole query of a callback, as
	// maxRedirectURLBytes bounds a pasted redirect: a real one is a few
	// hundred bytes.
	maxCallbackQueryBytes = maxRedirectURLBytes

	// maxErrorCodeBytes bounds the error code shown on a denial page.
	maxErrorCodeBytes = 64
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
auth-url, be unexpired and unused; it is spent on the first try), exchanges
the code, stores the tokens as the creds named when the auth-url was made,
and shows a page saying which creds were filled. Read the token with
vault read jawbone/creds/<name>.

Query parameters, as Jawbone sends them:
  code               the authorization code
  state              the state from auth-url
  error              set instead of code when access was denied
  error_description  Jawbone's explanation of error

Everything else (a denial, a missing, unknown, expired or replayed state, a
repeated parameter, a query over 8 KiB) gets a 4xx page saying what went
wrong and what to run next, and changes nothing in storage; only a valid
state leads to a call to Jawbone. Pages carry no token or secret, set no
cookie and are sent with Cache-Control: no-store.

jawbone/exchange keeps working for a redirect_uri elsewhere.
`

// pathCallback is the redirect endpoint. It declares no Fields on purpose:
// the framework validates fields before the handler runs and would answer a
// repeated parameter with a JSON error, while a browser must always get a
// page. The parameters are read from req.Data by callbackFromQuery.
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
			logical.ReadOperation: forwardedWrite(b.handleCallback),
		},
		HelpSynopsis:    pathCallbackSynopsis,
		HelpDescription: strings.TrimSpace(pathCallbackHelp),
	}
}

func (b *backend) handleCallback(ctx context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	mount := mountOf(req)
	cb, name, entry, err := b.runCallback(ctx, req)
	switch {
	case err == nil:
		return callbackPage(http.StatusOK, successPage(mount, name, entry))
	case errors.Is(err, logical.ErrReadOnly):
		return nil, logical.ErrReadOnly // unwrapped, so Vault forwards the request
	}
	var re *requestError
	if errors.As(err, &re) {
		// Anyone can hit this path: refusals are logged only at debug level
		// so that junk requests cannot flood the log.
		b.Logger().Debug("callback refused", "status", re.status, "reason", re.msg)
	} else {
		b.Logger().Error("callback failed", "error", err)
	}
	return callbackPage(failurePage(mount, cb, err))
}

// runCallback parses the redirect and hands it to the flow that exchange
// uses. cb is nil when the query itself was refused.
func (b *backend) runCallback(ctx context.Context, req *logical.Request) (*callback, string, *credsEntry, error) {
	cb, err := callbackFromQuery(req.Data)
	if err != nil {
		return nil, "", nil, err
	}
	cfg, err := b.requireConfig(ctx, req.Storage)
	if err != nil {
		return cb, "", nil, err
	}
	name, entry, err := b.completeAuthorization(ctx, req.Storage, cfg, cb)
	return cb, name, entry, err
}

// callbackFromQuery reads the redirect's query parameters. Vault passes a GET
// query as req.Data: one value as a string, a repeated one as a []string,
// which reaches an external plugin as a []any (the data crosses the plugin
// boundary as JSON).
func callbackFromQuery(data map[string]any) (*callback, error) {
	size := 0
	for k, v := range data {
		size += len(k)
		switch v := v.(type) {
		case string:
			size += len(v)
		case []string:
			for _, s := range v {
				size += len(s)
			}
		case []any:
			for _, s := range v {
				if s, ok := s.(string); ok {
					size += len(s)
				}
			}
		}
	}
	if size > maxCallbackQueryBytes {
		return nil, badRequest("the query is %d bytes, more than a Jawbone redirect carries (%d)", size, maxCallbackQueryBytes)
	}
	get := func(key string) (string, error) {
		switch v := data[key].(type) {
		case nil:
			return "", nil
		case string:
			return v, nil
		case []string:
			if len(v) == 1 {
				return v[0], nil
			}
			return "", badRequest("the query has %d %q parameters; a Jawbone redirect has one", len(v), key)
		case []any:
			if len(v) != 1 {
				return "", badRequest("the query has %d %q parameters; a Jawbone redirect has one", len(v), key)
			}
			if s, ok := v[0].(string); ok {
				return s, nil
			}
			return "", badRequest("the %q parameter is not text", key)
		default:
			return "", badRequest("the %q parameter is not text", key)
		}
	}
	var cb callback
	for _, f := range []struct {
		key string
		dst *string
	}{
		{keyCode, &cb.Code}, {keyState, &cb.State}, {keyError, &cb.Error}, {keyErrorDescription, &cb.ErrorDesc},
	} {
		v, err := get(f.key)
		if err != nil {
			return nil, err
		}
		*f.dst = v
	}
	return &cb, nil
}

// mountOf is the mount the request came in on, for the commands the pages
// suggest ("jawbone/" outside Vault, as in unit tests).
func mountOf(req *logical.Request) string {
	if req.MountPoint == "" {
		return "jawbone/"
	}
	return req.MountPoint
}

// callbackInUse reports whether redirectURI is this mount's callback: its
// path is /v1/<mount>callback (mountPoint is like "jawbone/", or
// "ns1/jawbone/" in a namespace). Scheme and host are the operator's: Vault
// does not know the address the browser uses.
func callbackInUse(redirectURI, mountPoint string) bool {
	if mountPoint == "" {
		return false
	}
	u, err := url.Parse(redirectURI)
	if err != nil {
		return false
	}
	return strings.TrimSuffix(u.Path, "/") == "/v1/"+mountPoint+callbackPath
}

// page is what a callback page shows. Every field is plain text: the
// template escapes it.
type page struct {
	OK       bool
	Title    string
	Lines    []string
	Detail   string // Vault's own wording of what went wrong
	Commands []string
	Closing  string
}

func successPage(mount, name string, entry *credsEntry) page {
	return page{
		OK:    true,
		Title: "Jawbone access granted",
		Lines: []string{
			"Vault stored the tokens as the creds “" + name + "” (scopes: " + strings.Join(entry.Scopes, ", ") + ").",
			"The access token is valid until " + entry.ExpiresAt.UTC().Format(time.RFC3339) + "; Vault refreshes it before then.",
		},
		Commands: []string{"vault read " + mount + "creds/" + name},
		Closing:  "You can close this window.",
	}
}

// failurePage words an error from the flow for the person at the browser.
// The status is the one the same error gets from jawbone/exchange.
func failurePage(mount string, cb *callback, err error) (int, page) {
	restart := []string{"vault read " + mount + "auth-url"}
	again := "Nothing was stored. To start again, get a new URL and open it in this browser:"
	var re *requestError
	switch {
	case !errors.As(err, &re):
		return http.StatusInternalServerError, page{
			Title: "Vault could not finish the authorization",
			Lines: []string{
				"An internal error stopped it; the Vault server log has the details.",
				again,
			},
			Commands: restart,
		}
	case cb != nil && cb.Error != "" && re.status == http.StatusBadRequest:
		// A denial. Jawbone's error_description is not shown: this page is
		// on Vault's address and anyone can make a link that fills it in.
		return re.status, page{
			Title: "Jawbone access was not granted",
			Lines: []string{
				"Jawbone sent the browser back without access (" + errorCodeText(cb.Error) + "): the account holder chose “Deny”, or Jawbone refused the request.",
				again,
			},
			Commands: restart,
		}
	case re.status >= http.StatusInternalServerError:
		return re.status, page{
			Title:    "Jawbone could not finish the authorization",
			Lines:    []string{"Jawbone did not answer as it should; it may be unavailable.", again},
			Detail:   re.msg,
			Commands: restart,
		}
	default:
		return re.status, page{
			Title: "This authorization could not be completed",
			Lines: []string{
				"This page is where Jawbone sends the browser back to Vault after its consent page, with a single-use state from " + mount + "auth-url.",
				again,
			},
			Detail:   re.msg,
			Commands: restart,
		}
	}
}

// oauthErrorCode is the character set of an OAuth 2.0 error code (RFC 6749,
// appendix A.7), narrowed to what Jawbone and the RFC use.
var oauthErrorCode = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)

// errorCodeText shows the error code only when it looks like one.
func errorCodeText(code string) string {
	if len(code) <= maxErrorCodeBytes && oauthErrorCode.MatchString(code) {
		return "error " + code
	}
	return "an unrecognised error"
}

// pageStyle is the page's only styling. The Content-Security-Policy allows
// exactly this stylesheet by hash, and nothing else: no script, image, font,
// frame or form.
const pageStyle = `body{font-family:system-ui,sans-serif;max-width:40em;margin:3em auto;padding:0 1em;line-height:1.5;color:#222}` +
	`h1{font-size:1.4em}h1.ok{color:#1a7f37}h1.fail{color:#b42318}` +
	`pre{background:#f4f4f4;padding:.6em .8em;overflow-x:auto}.detail{color:#555}`

var pageCSP = func() string {
	sum := sha256.Sum256([]byte(pageStyle))
	return "default-src 'none'; style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) +
		"'; base-uri 'none'; form-action 'none'"
}()

var pageTemplate = template.Must(template.New("callback").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{{.CSP}}">
<meta name="referrer" content="no-referrer">
<meta name="robots" content="noindex, nofollow">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}} - Vault</title>
<style>{{.Style}}</style>
</head>
<body>
<h1 id="title" class="{{if .OK}}ok{{else}}fail{{end}}">{{.Title}}</h1>
{{- range .Lines}}
<p>{{.}}</p>
{{- end}}
{{- range .Commands}}
<pre>{{.}}</pre>
{{- end}}
{{- if .Detail}}
<p class="detail" id="detail">Vault’s answer: {{.Detail}}</p>
{{- end}}
{{- if .Closing}}
<p id="closing">{{.Closing}}</p>
{{- end}}
</body>
</html>
`))

// callbackPage answers with p as an HTML page. Vault sends a raw response
// with Cache-Control no-store (set here and by Vault for every response)
// and never sets a cookie. The security headers in Headers reach the
// browser only if the mount is tuned with allowed_response_headers; the
// page's meta tags carry the policy that matters either way.
func callbackPage(status int, p page) (*logical.Response, error) {
	var buf bytes.Buffer
	err := pageTemplate.Execute(&buf, struct {
		page
		CSP   string
		Style template.CSS
	}{p, pageCSP, template.CSS(pageStyle)})
	if err != nil {
		return nil, err
	}
	return &logical.Response{
		Data: map[string]any{
			logical.HTTPStatusCode:         status,
			logical.HTTPContentType:        "text/html; charset=utf-8",
			logical.HTTPRawBody:            buf.Bytes(),
			logical.HTTPCacheControlHeader: "no-store",
			logical.HTTPPragmaHeader:       "no-cache",
		},
		Headers: map[string][]string{
			"Content-Security-Policy": {pageCSP + "; frame-ancestors 'none'"},
			"X-Frame-Options":         {"DENY"},
			"X-Content-Type-Options":  {"nosniff"},
			"Referrer-Policy":         {"no-referrer"},
		},
	}, nil
}
