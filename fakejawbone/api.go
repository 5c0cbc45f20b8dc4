package fakejawbone

import (
	"crypto/subtle"
	"mime"
	"net/http"
	"strings"
)

// meta is the status half of Jawbone's API envelope.
type meta struct {
	UserXID     string `json:"user_xid,omitempty"`
	Message     string `json:"message"`
	Code        int    `json:"code"`
	Time        int64  `json:"time"`
	ErrorType   string `json:"error_type,omitempty"`
	ErrorDetail string `json:"error_detail,omitempty"`
}

// envelope is every API reply: {"meta":{…},"data":{…}}.
type envelope struct {
	Meta meta `json:"meta"`
	Data any  `json:"data"`
}

// user is the data of GET /users/@me.
type user struct {
	XID    string  `json:"xid"`
	First  string  `json:"first"`
	Last   string  `json:"last"`
	Image  string  `json:"image"`
	Weight float64 `json:"weight"`
	Height float64 `json:"height"`
}

// handleRefreshToken serves POST /users/@me/refreshToken: the refresh token
// of the grant an access token belongs to, for apps that kept only the
// access token. The client secret in the form proves it is the app asking.
func (s *Server) handleRefreshToken(w http.ResponseWriter, r *http.Request) {
	if !s.requireMethod(w, r, http.MethodPost) {
		return
	}
	g, ok := s.authenticateBearer(w, r)
	if !ok {
		return
	}
	if err := readBodyForm(w, r); err != nil {
		s.writeAPIError(w, http.StatusBadRequest, "invalid_request", "the request body is not a readable form")
		return
	}
	// Only the body counts: a secret in a query string ends up in logs.
	secret := r.PostForm.Get("secret")
	if subtle.ConstantTimeCompare([]byte(secret), []byte(s.cfg.ClientSecret)) != 1 {
		s.writeAPIError(w, http.StatusBadRequest, "invalid_request", "secret is missing or is not the app's client secret")
		return
	}
	s.writeAPI(w, g.account, map[string]string{"refresh_token": g.refreshToken})
}

// readBodyForm parses the request body into r.PostForm, url-encoded or
// multipart/form-data: Jawbone's Android SDK sent the refreshToken secret as
// multipart, its ruby and node clients url-encoded, and both worked.
func readBodyForm(w http.ResponseWriter, r *http.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	mediaType, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mediaType != "multipart/form-data" {
		return r.ParseForm()
	}
	// The body is bounded above, so the parts stay in memory; RemoveAll
	// only makes sure no temporary file outlives the request.
	if err := r.ParseMultipartForm(maxFormBytes); err != nil {
		return err
	}
	return r.MultipartForm.RemoveAll()
}

// handleMe serves GET /users/@me, which tests use to prove a token works
// and to see whose account it opens. The xid is the account's, the same for
// all its tokens (inferred: it is the account's id); the rest of the profile
// is the same made-up person for every account.
func (s *Server) handleMe(w http.ResponseWriter, r *http.Request) {
	if !s.requireMethod(w, r, http.MethodGet) {
		return
	}
	g, ok := s.authenticateBearer(w, r)
	if !ok {
		return
	}
	s.writeAPI(w, g.account, user{XID: g.account, First: "Jane", Last: "Doe", Weight: 62.5, Height: 1.68})
}

// handleMembership serves DELETE /users/@me/PartnerAppMembership: the user
// disconnects the app from their account, and none of the app's tokens for
// that account work afterwards (inferred). The reply is the envelope with
// empty data (inferred).
func (s *Server) handleMembership(w http.ResponseWriter, r *http.Request) {
	if !s.requireMethod(w, r, http.MethodDelete) {
		return
	}
	g, ok := s.authenticateBearer(w, r)
	if !ok {
		return
	}
	s.disconnect(g.account, false)
	s.writeAPI(w, g.account, struct{}{})
}

// authenticateBearer finds the grant of the request's bearer token, or
// answers 401 and returns false.
func (s *Server) authenticateBearer(w http.ResponseWriter, r *http.Request) (grantView, bool) {
	scheme, token, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	if !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="jawbone"`)
		s.writeAPIError(w, http.StatusUnauthorized, "authentication_error", "a bearer access token is required")
		return grantView{}, false
	}
	g, ok := s.grantFor(strings.TrimSpace(token))
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer realm="jawbone", error="invalid_token"`)
		s.writeAPIError(w, http.StatusUnauthorized, "authentication_error",
			"the access token is invalid, expired or was replaced by a refresh")
	}
	return g, ok
}

func (s *Server) requireMethod(w http.ResponseWriter, r *http.Request, method string) bool {
	if r.Method == method {
		return true
	}
	w.Header().Set("Allow", method)
	s.writeAPIError(w, http.StatusMethodNotAllowed, "method_not_allowed", "use "+method)
	return false
}

// writeNotFound answers a path the fake does not serve in the API's error
// envelope, not as Go's plain-text 404: kiefer reads meta.error_type from
// every non-200 reply and crashes on a body that is not JSON, and it worked
// against Jawbone, so Jawbone's errors were JSON (inferred, also for paths
// outside the API).
func (s *Server) writeNotFound(w http.ResponseWriter) {
	s.writeAPIError(w, http.StatusNotFound, "not_found", "there is no endpoint at this path")
}

// writeAPI answers 200 with data in the envelope of account xid's reply.
func (s *Server) writeAPI(w http.ResponseWriter, xid string, data any) {
	writeJSON(w, http.StatusOK, envelope{
		Meta: meta{UserXID: xid, Message: "OK", Code: http.StatusOK, Time: s.cfg.Now().Unix()},
		Data: data,
	})
}

// writeAPIError answers status with Jawbone's error_type and error_detail.
func (s *Server) writeAPIError(w http.ResponseWriter, status int, errorType, detail string) {
	writeJSON(w, status, envelope{
		Meta: meta{Message: http.StatusText(status), Code: status, Time: s.cfg.Now().Unix(),
			ErrorType: errorType, ErrorDetail: detail},
		Data: struct{}{},
	})
}
