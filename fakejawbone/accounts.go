package fakejawbone

import (
	"fmt"
	"slices"
)

// maxAccountXIDLen bounds an account xid. Jawbone's own xids were short
// base64url strings; the bound only keeps test input sane.
const maxAccountXIDLen = 64

// ValidateAccountXID returns why xid cannot name an account, or nil. An xid
// is 1 to 64 letters, digits, '_' or '-': it ends up in JSON, in HTML and in
// shell variables (fake-jawbone mint), and that alphabet is safe in all
// three without quoting.
func ValidateAccountXID(xid string) error {
	if xid == "" || len(xid) > maxAccountXIDLen {
		return fmt.Errorf("account xid must be 1 to %d characters long, got %d", maxAccountXIDLen, len(xid))
	}
	for _, c := range xid {
		if !isXIDChar(c) {
			return fmt.Errorf("account xid %q: only letters, digits, '_' and '-' are allowed", xid)
		}
	}
	return nil
}

func isXIDChar(c rune) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-'
}

// mustAccount returns xid, or the default account for "". An invalid xid
// panics: it is a mistake in the test that passed it.
func (s *Server) mustAccount(caller, xid string) string {
	if xid == "" {
		return s.defaultAccount
	}
	if err := ValidateAccountXID(xid); err != nil {
		panic("fakejawbone: " + caller + ": " + err.Error())
	}
	return xid
}

// DefaultAccount is the xid of the account that owns grants nobody chose an
// account for: Config.AccountXID, or a random xid if that was empty.
func (s *Server) DefaultAccount() string { return s.defaultAccount }

// SetSignedIn makes xid the account that approves the browser authorizations
// from now on, as if that user had signed in at Jawbone; "" restores the
// default account. The consent page offers it as "Sign in as", and a browser
// may sign in as another account there. An invalid xid panics.
func (s *Server) SetSignedIn(xid string) {
	xid = s.mustAccount("SetSignedIn", xid)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.signedIn = xid
}

func (s *Server) signedInAccount() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.signedIn
}

// IssueTokensFor creates a grant of account xid ("" = the default account)
// out of band, as if that user had authorized the app before the test
// began, and returns its tokens. An invalid xid panics.
func (s *Server) IssueTokensFor(xid string, scopes []string) (accessToken, refreshToken string) {
	xid = s.mustAccount("IssueTokensFor", xid)
	s.mu.Lock()
	defer s.mu.Unlock()
	iss := s.newGrantLocked(xid, slices.Clone(scopes))
	return iss.accessToken, iss.refreshToken
}

// AccountOf returns the account whose grant accessToken belongs to, if the
// API would accept the token now (see TokenValid).
func (s *Server) AccountOf(accessToken string) (xid string, ok bool) {
	g, ok := s.grantFor(accessToken)
	return g.account, ok
}
