package jawbone

import (
	"errors"
	"net/http"
	"net/url"
	"testing"
)

// FuzzParseRedirectURL: whatever a user pastes, parsing never panics, and
// anything accepted is a redirect to the configured endpoint whose callback
// values are exactly the URL's own.
func FuzzParseRedirectURL(f *testing.F) {
	for _, seed := range []string{
		testRedirectURI + "?code=abc&state=xyz",
		testRedirectURI + "?error=access_denied&error_description=no&state=xyz",
		"https://APP.example/callback/?code=a&state=b",
		"https://evil.example/callback?code=a&state=b",
		"javascript:alert(1)",
		"data:text/html,hi",
		"%zz",
		testRedirectURI + "?state=a&state=b",
		testRedirectURI + "?code=%ZZ",
		"",
	} {
		f.Add(seed)
	}
	want, _ := url.Parse(testRedirectURI)
	f.Fuzz(func(t *testing.T, raw string) {
		r, err := parseRedirectURL(raw, testRedirectURI)
		if err != nil {
			var re *requestError
			if !errors.As(err, &re) || re.status != http.StatusBadRequest {
				t.Fatalf("rejection %v is not a 400 request error", err)
			}
			return
		}
		got, perr := url.Parse(raw)
		if perr != nil || !sameEndpoint(got, want) {
			t.Fatalf("accepted %q, which is not a redirect to %s", raw, testRedirectURI)
		}
		q := got.Query()
		if r.Code != q.Get("code") || r.State != q.Get("state") || r.Error != q.Get("error") {
			t.Fatalf("redirect %+v does not match the URL's query %v", r, q)
		}
	})
}
