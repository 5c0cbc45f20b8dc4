package jawbone

import (
	"fmt"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strings"
)

// jawboneScopes are the scopes Jawbone's SDKs know (Python SDK, plus the
// cardiac scopes of the iOS and Android SDKs).
var jawboneScopes = []string{
	"basic_read", "extended_read", "location_read", "friends_read",
	"mood_read", "mood_write", "move_read", "move_write",
	"sleep_read", "sleep_write", "meal_read", "meal_write",
	"weight_read", "weight_write", "generic_event_read", "generic_event_write",
	"heartrate_read", "cardiac_read", "cardiac_write",
}

const defaultScope = "basic_read"

// normalizeScopes accepts scopes as a list, a comma list or a space-separated
// string (Jawbone's wire form), rejects unknown ones and drops duplicates.
func normalizeScopes(field string, raw []string) ([]string, error) {
	var out []string
	for _, item := range raw {
		for _, s := range strings.Fields(item) {
			if !slices.Contains(jawboneScopes, s) {
				return nil, fmt.Errorf("%s: %q is not a Jawbone scope; valid scopes are: %s",
					field, s, strings.Join(jawboneScopes, ", "))
			}
			if !slices.Contains(out, s) {
				out = append(out, s)
			}
		}
	}
	if len(out) == 0 {
		return []string{defaultScope}, nil
	}
	return out, nil
}

var credsNameRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

const credsNameRule = "1 to 64 characters from A-Z a-z 0-9 . _ -, starting with a letter or digit, and no \"..\""

func validateCredsName(name string) error {
	if !credsNameRe.MatchString(name) || strings.Contains(name, "..") {
		return fmt.Errorf("name %q is not allowed: a creds name must be %s", name, credsNameRule)
	}
	return nil
}

// validateSecureURL checks an absolute http(s) URL that must use https unless
// it points at this machine (local use and tests).
func validateSecureURL(field, raw string) error {
	u, err := url.Parse(raw)
	if err == nil && u.User != nil {
		// Never echo a password: error messages reach the audit log as-is.
		return fmt.Errorf("%s must not carry user:password credentials; got %q", field, redactUserinfo(u))
	}
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return fmt.Errorf("%s must be an absolute http(s) URL such as https://example.com/path; got %q", field, raw)
	}
	if u.Fragment != "" {
		return fmt.Errorf("%s must not have a #fragment; got %q", field, raw)
	}
	if u.Scheme == "http" && !isLoopbackHost(u.Hostname()) {
		return fmt.Errorf("%s must use https (http is allowed only for a loopback host such as 127.0.0.1 or localhost, for local use); got %q", field, raw)
	}
	return nil
}

func redactUserinfo(u *url.URL) string {
	c := *u
	c.User = url.User("REDACTED")
	return c.String()
}

func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
