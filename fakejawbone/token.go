package fakejawbone

import (
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"net/url"
	"time"
)

// tokenReply is Jawbone's token endpoint reply: no scope field and no
// meta/data envelope, unlike the rest of the API.
type tokenReply struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token"`
}

// handleToken serves the token endpoint. Jawbone's own clients used both GET
// with a query and POST with a form, so both work.
func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	params, oerr := tokenParams(w, r)
	if oerr == nil {
		oerr = s.authenticateClient(r, params)
	}
	var iss issued
	if oerr == nil {
		iss, oerr = s.grantTokens(params)
	}
	if oerr != nil {
		writeTokenError(w, oerr)
		return
	}
	writeJSON(w, http.StatusOK, tokenReply{
		AccessToken:  iss.accessToken,
		TokenType:    "Bearer",
		ExpiresIn:    wholeSeconds(iss.lifetime),
		RefreshToken: iss.refreshToken,
	})
}

// tokenParams returns the request's parameters: the query of a GET, the
// query and form of a POST.
func tokenParams(w http.ResponseWriter, r *http.Request) (url.Values, *oauthError) {
	switch r.Method {
	case http.MethodGet:
		return r.URL.Query(), nil
	case http.MethodPost:
		r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
		if err := r.ParseForm(); err != nil {
			return nil, &oauthError{"invalid_request", "the request body is not a readable form"}
		}
		return r.Form, nil
	}
	return nil, &oauthError{"invalid_request", "the token endpoint takes GET or POST"}
}

// authenticateClient checks client_id and client_secret. Jawbone took them
// only as parameters; HTTP Basic credentials are not looked at, so a client
// that sends only those fails, as it did at Jawbone.
func (s *Server) authenticateClient(r *http.Request, params url.Values) *oauthError {
	id, secret := params.Get("client_id"), params.Get("client_secret")
	if id == "" || secret == "" {
		if _, _, basic := r.BasicAuth(); basic {
			return &oauthError{"invalid_client",
				"HTTP Basic client authentication is not supported: send client_id and client_secret as parameters"}
		}
		return &oauthError{"invalid_client", "client_id and client_secret are required"}
	}
	idOK := subtle.ConstantTimeCompare([]byte(id), []byte(s.cfg.ClientID)) == 1
	secretOK := subtle.ConstantTimeCompare([]byte(secret), []byte(s.cfg.ClientSecret)) == 1
	if !idOK || !secretOK {
		return &oauthError{"invalid_client", "unknown client_id or wrong client_secret"}
	}
	return nil
}

func (s *Server) grantTokens(params url.Values) (issued, *oauthError) {
	switch params.Get("grant_type") {
	case "authorization_code":
		code := params.Get("code")
		if code == "" {
			return issued{}, &oauthError{"invalid_request", "code is required"}
		}
		return s.redeemCode(code, params.Get("client_id"), params.Get("redirect_uri"), params.Has("redirect_uri"))
	case "refresh_token":
		rt := params.Get("refresh_token")
		if rt == "" {
			return issued{}, &oauthError{"invalid_request", "refresh_token is required"}
		}
		return s.refresh(rt, false)
	case "":
		return issued{}, &oauthError{"invalid_request", "grant_type is required"}
	}
	return issued{}, &oauthError{"unsupported_grant_type",
		"grant_type must be authorization_code or refresh_token"}
}

// wholeSeconds is a lifetime as expires_in, never 0: clients read 0 as "no
// expiry given", which would hide a short test lifetime.
func wholeSeconds(d time.Duration) int64 {
	return max(int64(d/time.Second), 1)
}

// writeTokenError answers 400 for every token endpoint error: Jawbone did
// not document its status codes, and 400 is what RFC 6749 uses for most.
func writeTokenError(w http.ResponseWriter, e *oauthError) {
	writeJSON(w, http.StatusBadRequest, e)
}

// writeJSON sends v as the whole reply. Token and API replies carry secrets,
// so no cache may keep them.
func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "fake jawbone: cannot encode reply", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	w.WriteHeader(status)
	w.Write(body)
}
