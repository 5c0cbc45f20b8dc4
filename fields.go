package jawbone

import (
	"fmt"
	"regexp"
	"strings"
)

// Field names shared by the paths, their replies and the kiefer file format.
const (
	// config
	keyClientID           = "client_id"
	keyClientSecret       = "client_secret"
	keySecretSet          = "client_secret_set"
	keyRedirectURI        = "redirect_uri"
	keyScopes             = "scopes"
	keyScope              = "scope" // kiefer's name for scopes
	keyAuthURL            = "auth_url"
	keyTokenURL           = "token_url"
	keyAPIURL             = "api_url"
	keyRefreshAhead       = "refresh_ahead"
	keyRequestTimeout     = "request_timeout"
	keyMaxTTL             = "max_ttl"
	keyCheckInterval      = "check_interval"
	keyMaxChecksPerMinute = "max_checks_per_minute"
	keyLocalDevelopment   = "local_development"
	keyCACert             = "ca_cert"

	// auth-url, exchange, callback
	keyName          = "name"
	keyURL           = "url"
	keyState         = "state"
	keyReplace       = "replace"
	keyCallbackInUse = "callback_in_use"
	keyRedirectURL   = "redirect_url"
	keyCode          = "code"
	keyError         = "error"
	keyErrorDesc     = "error_description"

	// creds
	keyAccessToken    = "access_token"
	keyRefreshToken   = "refresh_token"
	keyTokenType      = "token_type"
	keyExpiresAt      = "expires_at"
	keyExpiresIn      = "expires_in"
	keyTTL            = "ttl"
	keyRotationPeriod = "rotation_period"
	keyLastRefreshed  = "last_refreshed_at"
	keyNeedsReauth    = "needs_reauthorization"
	keyLastError      = "last_error"
	keyLastErrorAt    = "last_error_at"
	keyNextAttemptAt  = "next_refresh_attempt_at"
	keyAccountXID     = "account_xid"
	keyReplaced       = "replaced_account_xid"
	keyRevoked        = "revoked"
	keyCheckedAt      = "checked_at"
	keyInDoubtUntil   = "refresh_in_doubt_until"

	// creds list
	keyAfter = "after"
	keyLimit = "limit"

	// status
	keyFormat = "format"
)

// defaultCredsName is the creds an authorization fills when no name is
// given, and where the tokens of a kiefer config file go.
const defaultCredsName = "me"

var credsNameRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

const credsNameRule = "1 to 64 characters from A-Z a-z 0-9 . _ -, starting with a letter or digit, and no \"..\""

func validateCredsName(name string) error {
	if !credsNameRe.MatchString(name) || strings.Contains(name, "..") {
		re := badRequest("name %q is not allowed: a creds name must be %s", name, credsNameRule)
		if strings.Contains(name, "/") {
			// A path below an action path (creds/x/refresh/extra) reaches
			// creds/<name> with the rest as the name.
			return re.withFix(func(string) string {
				return `a name has no "/": the paths below creds/<name> are refresh, revoke and status`
			})
		}
		return re
	}
	return nil
}

// isSpaceOrControl is what never belongs in an identifier or a token.
func isSpaceOrControl(r rune) bool { return r <= ' ' || r == 0x7f }

func quoteAll(names []string) string {
	quoted := make([]string, len(names))
	for i, n := range names {
		quoted[i] = fmt.Sprintf("%q", n)
	}
	return strings.Join(quoted, ", ")
}
