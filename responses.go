package jawbone

import (
	"net/http"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
)

// The fields of each reply, declared for Vault's OpenAPI document, so that
// generated clients and the UI see typed replies.

func str(desc string) *framework.FieldSchema {
	return &framework.FieldSchema{Type: framework.TypeString, Description: desc}
}

func num(desc string) *framework.FieldSchema {
	return &framework.FieldSchema{Type: framework.TypeInt64, Description: desc}
}

func boolean(desc string) *framework.FieldSchema {
	return &framework.FieldSchema{Type: framework.TypeBool, Description: desc}
}

func list(desc string) *framework.FieldSchema {
	return &framework.FieldSchema{Type: framework.TypeCommaStringSlice, Description: desc}
}

// healthFields are what a grant's health shows: in a creds read and in
// creds/<name>/status.
var healthFields = map[string]*framework.FieldSchema{
	keyExpiresAt:     str("When the access token expires (RFC 3339)."),
	keyExpiresIn:     num("Seconds until the access token expires."),
	keyScopes:        list("The scopes of the grant."),
	keyAccountXID:    str("The Jawbone account behind the grant (its user_xid), when known."),
	keyNeedsReauth:   boolean("Jawbone rejected the grant (invalid_grant): authorize again."),
	keyLastRefreshed: str("When the access token was last refreshed (RFC 3339)."),
	keyLastError:     str("Why the last refresh or check failed, if it did."),
	keyLastErrorAt:   str("When it failed (RFC 3339)."),
	keyNextAttemptAt: str("When the next automatic attempt may be made (RFC 3339)."),
}

var credsReplyFields = withFields(healthFields, map[string]*framework.FieldSchema{
	keyAccessToken:    str("The access token, to send as Authorization: Bearer <token>."),
	keyTokenType:      str("The token type (Bearer)."),
	keyTTL:            num("Seconds until Vault Agent should read the creds again."),
	keyRotationPeriod: num("Seconds between the access token's issue and its refresh point."),
})

var healthReplyFields = withFields(healthFields, map[string]*framework.FieldSchema{
	keyCheckedAt:    str("When Jawbone last accepted the access token in a check (RFC 3339)."),
	keyInDoubtUntil: str("While a refresh that did not complete could still be carried out by Jawbone: until when (RFC 3339)."),
})

var authURLReplyFields = map[string]*framework.FieldSchema{
	keyURL:           str("The Jawbone authorization URL to open in a browser."),
	keyState:         str("The state the URL carries: single-use, for 10 minutes."),
	keyExpiresAt:     str("When the state expires (RFC 3339)."),
	keyName:          str("The creds the authorization fills."),
	keyScopes:        list("The scopes asked for."),
	keyCallbackInUse: boolean("The browser comes back to this mount's callback: nothing to paste."),
}

var authorizedReplyFields = map[string]*framework.FieldSchema{
	keyName:       str("The creds the tokens were stored as."),
	keyScopes:     list("The scopes of the grant."),
	keyExpiresAt:  str("When the access token expires (RFC 3339)."),
	keyAccountXID: str("The Jawbone account behind the grant, when known."),
	keyReplaced:   str("The account of the grant this one replaced, if another."),
}

// kieferImportReplyFields: a config write that imported a kiefer file's
// tokens says where they went (and never hands out a token).
var kieferImportReplyFields = map[string]*framework.FieldSchema{
	keyName:       str("The creds the file's tokens were imported as."),
	keyExpiresAt:  str("When the imported grant's access token expires (RFC 3339)."),
	keyAccountXID: str("The Jawbone account behind the grant, when known."),
}

var revokeReplyFields = map[string]*framework.FieldSchema{
	keyName:       str("The creds revoked and forgotten."),
	keyAccountXID: str("The Jawbone account the app was disconnected from."),
	keyRevoked:    boolean("Jawbone disconnected the app."),
}

var configReplyFields = map[string]*framework.FieldSchema{
	keyClientID:           str("The app's client ID."),
	keySecretSet:          boolean("A client secret is set (it is never shown)."),
	keyRedirectURI:        str("The redirect URI."),
	keyScopes:             list("The default scopes."),
	keyAuthURL:            str("The authorization endpoint."),
	keyTokenURL:           str("The token endpoint."),
	keyAPIURL:             str("The API's base URL."),
	keyRefreshAhead:       str("refresh_ahead, as a duration such as 168h."),
	keyRequestTimeout:     str("request_timeout, as a duration such as 30s."),
	keyMaxTTL:             str("max_ttl, as a duration such as 1m."),
	keyCheckInterval:      str("check_interval, as a duration such as 1h."),
	keyMaxChecksPerMinute: num("The most liveness checks a minute."),
	keyLocalDevelopment:   boolean("http endpoints on a loopback host are allowed."),
	keyCACert:             str("The CA certificate trusted for the endpoints (PEM), if any."),
}

var listReplyFields = map[string]*framework.FieldSchema{
	"keys": list("The creds names."),
}

// statusReplyFields are the status read's keys (see metrics.jsonView),
// described by their metrics' own help.
var statusReplyFields = func() map[string]*framework.FieldSchema {
	fields := map[string]*framework.FieldSchema{}
	families, _ := newMetrics(newRegistry(0, nil, time.Now), time.Now).registry.Gather()
	for _, f := range families {
		for _, series := range f.GetMetric() {
			fields[jsonKey(f.GetName(), series)] = &framework.FieldSchema{Type: framework.TypeFloat, Description: f.GetHelp()}
		}
	}
	return fields
}()

func withFields(a, b map[string]*framework.FieldSchema) map[string]*framework.FieldSchema {
	out := make(map[string]*framework.FieldSchema, len(a)+len(b))
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

// replies declares what op answers with on success.
func replies(op *framework.PathOperation, fields map[string]*framework.FieldSchema) *framework.PathOperation {
	op.Responses = map[int][]framework.Response{http.StatusOK: {{Description: "OK", Fields: fields}}}
	return op
}

// repliesOrNothing declares a 204, or a 200 with fields when there is
// something to say.
func repliesOrNothing(op *framework.PathOperation, fields map[string]*framework.FieldSchema) *framework.PathOperation {
	op.Responses = map[int][]framework.Response{
		http.StatusOK:        {{Description: "OK", Fields: fields}},
		http.StatusNoContent: {{Description: "No content"}},
	}
	return op
}

// repliesNothing declares a 204.
func repliesNothing(op *framework.PathOperation) *framework.PathOperation {
	op.Responses = map[int][]framework.Response{http.StatusNoContent: {{Description: "No content"}}}
	return op
}
