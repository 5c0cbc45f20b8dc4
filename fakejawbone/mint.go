package fakejawbone

import (
	"net/http"
	"strings"
)

// mintPath is the fake's own endpoint for minting a grant without a
// browser. Jawbone had nothing like it; the "_fake" keeps it apart from
// every path Jawbone served.
const mintPath = "/_fake/mint"

// MintURL is the URL of the fake's mint endpoint, served at base. It is not
// part of Jawbone's API: the demo uses it to hand a user tokens to import.
func MintURL(base string) string { return strings.TrimRight(base, "/") + mintPath }

// mintReply is the mint endpoint's answer: a token reply plus the account.
type mintReply struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	ExpiresIn    int64  `json:"expires_in"`
	UserXID      string `json:"user_xid"`
}

// handleMint serves POST /_fake/mint: it creates a grant as IssueTokensFor
// does, for a caller that proves it is the app, so that the demo can give a
// user tokens to try the plugin's imports with (Vault never shows a refresh
// token). The form carries client_id, client_secret, and optionally scope
// (space-separated, default basic_read) and account (default the default
// account); the query is ignored, as secrets in a URL end up in logs. It is
// not counted by Calls and takes no faults: it is not Jawbone's.
func (s *Server) handleMint(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeJSON(w, http.StatusMethodNotAllowed, &oauthError{"invalid_request", "use POST with a form"})
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		writeTokenError(w, &oauthError{"invalid_request", "the request body is not a readable form"})
		return
	}
	account, scopes, oerr := s.mintRequest(r)
	if oerr != nil {
		writeTokenError(w, oerr)
		return
	}
	s.mu.Lock()
	iss := s.newGrantLocked(account, scopes)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, mintReply{
		AccessToken:  iss.accessToken,
		RefreshToken: iss.refreshToken,
		ExpiresIn:    wholeSeconds(iss.lifetime),
		UserXID:      account,
	})
}

// mintRequest checks a mint request's form and returns the grant's account
// and scopes.
func (s *Server) mintRequest(r *http.Request) (string, []string, *oauthError) {
	form := r.PostForm
	if oerr := s.authenticateClient(r, form); oerr != nil {
		return "", nil, oerr
	}
	scopes, problem := parseScopes(form.Get("scope"))
	if problem != "" {
		return "", nil, &oauthError{"invalid_scope", problem}
	}
	account := form.Get("account")
	if account == "" {
		return s.defaultAccount, scopes, nil
	}
	if err := ValidateAccountXID(account); err != nil {
		return "", nil, &oauthError{"invalid_request", err.Error()}
	}
	return account, scopes, nil
}
