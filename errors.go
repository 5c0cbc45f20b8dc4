package jawbone

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/hashicorp/vault/sdk/logical"
)

// requestError is an error the caller can act on, with the HTTP status Vault
// should answer with. Anything else a handler returns is an internal error.
type requestError struct {
	status int
	msg    string
}

func (e *requestError) Error() string { return e.msg }

// badRequest: the input is wrong; the message names the field and the fix.
func badRequest(format string, args ...any) error {
	return &requestError{status: http.StatusBadRequest, msg: fmt.Sprintf(format, args...)}
}

// notFound: the named thing does not exist.
func notFound(format string, args ...any) error {
	return &requestError{status: http.StatusNotFound, msg: fmt.Sprintf(format, args...)}
}

// badGateway: Jawbone failed in a way that may pass; retrying later can help.
func badGateway(format string, args ...any) error {
	return &requestError{status: http.StatusBadGateway, msg: fmt.Sprintf(format, args...)}
}

// respondError is the one place errors become Vault responses: 400s as
// error responses, other request errors as coded errors, the rest as 500s.
func respondError(err error) (*logical.Response, error) {
	var re *requestError
	if !errors.As(err, &re) {
		return nil, err
	}
	if re.status == http.StatusBadRequest {
		return logical.ErrorResponse(re.msg), nil
	}
	return nil, logical.CodedError(re.status, re.msg)
}

// providerFailure words a Jawbone failure for the caller: a rejection is the
// caller's to fix (400), anything else is Jawbone's (502).
func providerFailure(err error, fix string) error {
	switch kindOf(err) {
	case errPermanent:
		return badRequest("%v; %s", err, fix)
	case errClient:
		return badRequest("%v; %s", err, fixClientConfig)
	default:
		return badGateway("%v; Jawbone may be unavailable: try again later", err)
	}
}

const fixClientConfig = "Jawbone refused this client: check client_id, client_secret and token_url with vault read jawbone/config and rewrite them with vault write jawbone/config"
