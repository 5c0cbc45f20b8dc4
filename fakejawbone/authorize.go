package fakejawbone

import (
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// jawboneScopes are all the scopes Jawbone's SDKs knew of.
var jawboneScopes = []string{
	"basic_read", "extended_read", "location_read", "friends_read",
	"mood_read", "mood_write", "move_read", "move_write",
	"sleep_read", "sleep_write", "meal_read", "meal_write",
	"weight_read", "weight_write", "generic_event_read", "generic_event_write",
	"heartrate_read", "cardiac_read", "cardiac_write",
}

// Scopes returns a copy of every scope the fake accepts: all the scopes
// Jawbone's SDKs knew of, in a fixed order.
func Scopes() []string { return slices.Clone(jawboneScopes) }

// defaultScope is what Jawbone grants when a request names no scope.
const defaultScope = "basic_read"

// maxFormBytes bounds every form body the fake reads.
const maxFormBytes = 64 << 10

// authRequest is a parsed authorization request.
type authRequest struct {
	clientID    string
	redirectURI string
	scope       string // as sent, for the consent form to post back
	scopes      []string
	state       string
	hasState    bool
}

// handleAuth serves the authorization endpoint: GET starts (and, without a
// consent page, finishes) the flow; POST is the consent page's answer.
func (s *Server) handleAuth(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodGet:
		s.authorizeGet(w, r)
	case r.Method == http.MethodPost && s.cfg.ConsentPage:
		s.authorizePost(w, r)
	default:
		w.Header().Set("Allow", s.authMethods())
		authPageError(w, http.StatusMethodNotAllowed, "use "+s.authMethods())
	}
}

func (s *Server) authMethods() string {
	if s.cfg.ConsentPage {
		return "GET, POST"
	}
	return "GET"
}

func (s *Server) authorizeGet(w http.ResponseWriter, r *http.Request) {
	req, problem := s.parseAuthRequest(r.URL.Query())
	switch {
	case problem != "":
		authPageError(w, http.StatusBadRequest, problem)
	case s.denying():
		redirectDenied(w, r, req)
	case s.cfg.ConsentPage:
		renderConsent(w, req, s.signedInAccount())
	default:
		s.redirectWithCode(w, r, req, s.signedInAccount())
	}
}

// authorizePost takes the consent form. It validates the request again: the
// hidden fields came back from the browser and may have been edited.
func (s *Server) authorizePost(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		authPageError(w, http.StatusBadRequest, "the form could not be read")
		return
	}
	req, problem := s.parseAuthRequest(r.PostForm)
	if problem != "" {
		authPageError(w, http.StatusBadRequest, problem)
		return
	}
	account, problem := s.consentAccount(r.PostForm.Get("account"))
	if problem != "" {
		authPageError(w, http.StatusBadRequest, problem)
		return
	}
	switch decision := r.PostForm.Get("decision"); {
	case decision == "deny", decision == "allow" && s.denying():
		redirectDenied(w, r, req)
	case decision == "allow":
		s.redirectWithCode(w, r, req, account)
	default:
		authPageError(w, http.StatusBadRequest, `decision must be "allow" or "deny"`)
	}
}

// consentAccount is the account the consent form signs in as: the one typed
// into "Sign in as", or the signed-in account if the field is empty or
// missing (a form from before the field existed).
func (s *Server) consentAccount(typed string) (string, string) {
	if typed == "" {
		return s.signedInAccount(), ""
	}
	if err := ValidateAccountXID(typed); err != nil {
		return "", err.Error()
	}
	return typed, ""
}

// parseAuthRequest checks an authorization request and returns a
// description of the first problem, or "". The client and the redirect URI
// are checked first: until both are known good, the error must not be sent
// to the redirect URI (RFC 6749, section 4.1.2.1), so every problem is
// answered with an error page.
func (s *Server) parseAuthRequest(q url.Values) (authRequest, string) {
	req := authRequest{
		clientID:    q.Get("client_id"),
		redirectURI: q.Get("redirect_uri"),
		scope:       q.Get("scope"),
		state:       q.Get("state"),
		hasState:    q.Has("state"),
	}
	if problem := s.checkClient(req.clientID); problem != "" {
		return req, problem
	}
	if problem := s.checkRedirectURI(req.redirectURI); problem != "" {
		return req, problem
	}
	if rt := q.Get("response_type"); rt != "code" {
		return req, fmt.Sprintf("unsupported response_type %q: only \"code\" is supported", rt)
	}
	scopes, problem := parseScopes(req.scope)
	req.scopes = scopes
	return req, problem
}

func (s *Server) checkClient(clientID string) string {
	switch {
	case clientID == "":
		return "missing client_id"
	case clientID != s.cfg.ClientID:
		return fmt.Sprintf("unknown client_id %q", clientID)
	}
	return ""
}

// checkRedirectURI accepts an absolute URL that starts with the registered
// one: Jawbone matched the registered redirect URI as a prefix.
func (s *Server) checkRedirectURI(raw string) string {
	if raw == "" {
		return "missing redirect_uri"
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil || !u.IsAbs() || u.Host == "":
		return "redirect_uri must be an absolute URL"
	case strings.Contains(raw, "#"):
		return "redirect_uri must not contain a fragment"
	case !strings.HasPrefix(raw, s.cfg.RedirectURIPrefix):
		return "redirect_uri does not match the redirect URI registered for this app"
	}
	return ""
}

// parseScopes splits a space-separated scope list, dropping repeats.
func parseScopes(scope string) ([]string, string) {
	var scopes []string
	for _, sc := range strings.Fields(scope) {
		if !slices.Contains(jawboneScopes, sc) {
			return nil, fmt.Sprintf("unknown scope %q", sc)
		}
		if !slices.Contains(scopes, sc) {
			scopes = append(scopes, sc)
		}
	}
	if len(scopes) == 0 {
		scopes = []string{defaultScope}
	}
	return scopes, ""
}

func (s *Server) redirectWithCode(w http.ResponseWriter, r *http.Request, req authRequest, account string) {
	params := url.Values{"code": {s.newCode(req.clientID, req.redirectURI, account, req.scopes)}}
	redirectBack(w, r, req, params)
}

func redirectDenied(w http.ResponseWriter, r *http.Request, req authRequest) {
	redirectBack(w, r, req, url.Values{
		"error":             {"access_denied"},
		"error_description": {"The user denied access"},
	})
}

// redirectBack sends the browser to the redirect URI with params (and the
// state, if the request carried one) added to whatever query it already has.
func redirectBack(w http.ResponseWriter, r *http.Request, req authRequest, params url.Values) {
	if req.hasState {
		params.Set("state", req.state)
	}
	u, _ := url.Parse(req.redirectURI) // checkRedirectURI parsed it already
	if u.RawQuery != "" {
		u.RawQuery += "&"
	}
	u.RawQuery += params.Encode()
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, u.String(), http.StatusFound)
}

// authPageError answers a browser with a plain page naming the problem.
func authPageError(w http.ResponseWriter, status int, problem string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	fmt.Fprintf(w, "Jawbone UP (fake): invalid authorization request: %s\n", problem)
}

// consentTemplate is the Allow/Deny page. The form has no action, so the
// browser posts it back to the URL it came from.
var consentTemplate = template.Must(template.New("consent").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Authorize {{.App}} - Jawbone UP (fake)</title>
</head>
<body>
<h1>{{.App}} would like to access your Jawbone UP account</h1>
<p>It asks for:</p>
<ul id="scopes">
{{- range .Scopes}}
<li>{{.}}</li>
{{- end}}
</ul>
<form method="post">
<p>
<label for="account">Sign in as</label>
<input type="text" id="account" name="account" value="{{.Account}}" maxlength="{{.MaxAccountLen}}" autocomplete="off">
</p>
{{- range .Hidden}}
<input type="hidden" name="{{.Name}}" value="{{.Value}}">
{{- end}}
<button type="submit" id="allow" name="decision" value="allow">Allow</button>
<button type="submit" id="deny" name="decision" value="deny">Deny</button>
</form>
</body>
</html>
`))

type hiddenField struct{ Name, Value string }

// renderConsent shows the page with "Sign in as" prefilled with account.
func renderConsent(w http.ResponseWriter, req authRequest, account string) {
	hidden := []hiddenField{
		{"response_type", "code"},
		{"client_id", req.clientID},
		{"redirect_uri", req.redirectURI},
		{"scope", req.scope},
	}
	if req.hasState {
		hidden = append(hidden, hiddenField{"state", req.state})
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Frame-Options", "DENY") // a consent button must not be clickjackable
	// A write error means the browser went away; there is no one to tell.
	_ = consentTemplate.Execute(w, struct {
		App           string
		Scopes        []string
		Account       string
		MaxAccountLen int
		Hidden        []hiddenField
	}{req.clientID, req.scopes, account, maxAccountXIDLen, hidden})
}
