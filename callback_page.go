package jawbone

// The HTML pages the callback answers a browser with. Every value on a page
// is plain text that the template escapes; the pages hold no token or
// secret and load nothing but their own stylesheet.

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"html/template"
	"net/http"
	"strings"
	"time"

	"github.com/jawbone-vault/vault-plugin-secrets-jawbone/internal/jawbone"
)

// page is what a callback page shows.
type page struct {
	OK       bool
	Title    string
	Lines    []string
	Detail   string // Vault's own wording of what went wrong
	Commands []string
	Closing  string
}

func successPage(mount string, done *completedAuth) page {
	lines := []string{
		"Vault stored the tokens as the creds “" + done.name + "” (scopes: " + strings.Join(done.grant.Scopes, ", ") + ").",
		"The access token is valid until " + done.grant.ExpiresAt.UTC().Format(time.RFC3339) + "; Vault refreshes it before then.",
	}
	if xid := done.grant.AccountXID; xid != "" {
		lines = append(lines, "Jawbone account: "+xid+".")
	}
	if done.replaced != "" {
		// Not which: the page is for whoever holds the browser.
		lines = append(lines, "They replace the grant of another Jawbone account.")
	}
	return page{
		OK:       true,
		Title:    "Jawbone access granted",
		Lines:    lines,
		Commands: []string{vaultCmd(mount, "read", "creds/"+done.name)},
		Closing:  "You can close this window.",
	}
}

// failurePage words an error from the flow for the person at the browser.
// The status is the one the same error gets from exchange; r is nil when
// the query itself was refused.
func failurePage(mount string, r *redirect, name string, err error) (int, page) {
	restart := []string{vaultCmd(mount, "read", "auth-url")}
	if name != "" {
		restart = []string{vaultCmd(mount, "read", "auth-url name="+name)}
	}
	again := "Nothing was stored. To start again, get a new URL and open it in this browser:"
	var re *requestError
	switch {
	case errors.As(err, &re) && re.completed != "":
		// A reloaded success page: say that it did succeed.
		return http.StatusOK, page{
			OK:       true,
			Title:    "Jawbone access was granted already",
			Lines:    []string{"This authorization was completed a moment ago: Vault stored the tokens as the creds “" + re.completed + "”. Nothing more to do."},
			Commands: []string{vaultCmd(mount, "read", "creds/"+re.completed)},
			Closing:  "You can close this window.",
		}
	case errors.As(err, &re) && re.inProgress != "":
		// A double click: the first request is still at Jawbone.
		return re.status, page{
			OK:       true,
			Title:    "Jawbone access is being granted",
			Lines:    []string{"This same authorization was sent a moment ago and Vault is finishing it: the tokens will be stored as the creds “" + re.inProgress + "”."},
			Detail:   re.forAnyone(mount),
			Commands: []string{vaultCmd(mount, "read", "creds/"+re.inProgress)},
			Closing:  "You can close this window.",
		}
	case !errors.As(err, &re):
		return http.StatusInternalServerError, page{
			Title: "Vault could not finish the authorization",
			Lines: []string{
				"An internal error stopped it; the Vault server log has the details.",
				again,
			},
			Commands: restart,
		}
	case r != nil && r.Error != "" && re.status == http.StatusBadRequest:
		// A denial. Jawbone's error_description is not shown: this page is
		// on Vault's address and anyone can make a link that fills it in.
		return re.status, page{
			Title: "Jawbone access was not granted",
			Lines: []string{
				"Jawbone sent the browser back without access (" + errorCodeText(r.Error) + "): the account holder chose “Deny”, or Jawbone refused the request.",
				again,
			},
			Commands: restart,
		}
	case re.status >= http.StatusInternalServerError:
		return re.status, page{
			Title:    "Jawbone could not finish the authorization",
			Lines:    []string{"Jawbone did not answer as it should; it may be unavailable.", again},
			Detail:   re.forAnyone(mount),
			Commands: restart,
		}
	default:
		return re.status, page{
			Title: "This authorization could not be completed",
			Lines: []string{
				"This page is where Jawbone sends the browser back to Vault after its consent page, with a single-use state from " + mount + "auth-url.",
				again,
			},
			Detail:   re.forAnyone(mount),
			Commands: restart,
		}
	}
}

// errorCodeText shows the error code only when it looks like one.
func errorCodeText(code string) string {
	if jawbone.IsErrorCode(code) {
		return "error " + code
	}
	return errorCodeOrNot(code)
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

// pageHeaders are the page's security headers. They reach the browser only
// if the mount is tuned with allowed_response_headers; the page's meta tags
// carry the policy that matters either way.
var pageHeaders = map[string][]string{
	"Content-Security-Policy": {pageCSP + "; frame-ancestors 'none'"},
	"X-Frame-Options":         {"DENY"},
	"X-Content-Type-Options":  {"nosniff"},
	"Referrer-Policy":         {"no-referrer"},
}

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

// render is p as an HTML document.
func (p page) render() ([]byte, error) {
	var buf bytes.Buffer
	err := pageTemplate.Execute(&buf, struct {
		page
		CSP   string
		Style template.CSS
	}{p, pageCSP, template.CSS(pageStyle)})
	return buf.Bytes(), err
}
