package jawbone

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/jawbone-vault/vault-plugin-secrets-jawbone/internal/jawbone"
)

// config is the app registration and how to reach Jawbone, as stored.
type config struct {
	ClientID       string        `json:"client_id"`
	ClientSecret   string        `json:"client_secret"`
	RedirectURI    string        `json:"redirect_uri"`
	Scopes         []string      `json:"scopes"`
	AuthURL        string        `json:"auth_url"`
	TokenURL       string        `json:"token_url"`
	APIURL         string        `json:"api_url"`
	RefreshAhead   time.Duration `json:"refresh_ahead"`
	RequestTimeout time.Duration `json:"request_timeout"`
	// MaxTTL bounds the ttl a creds read reports, so that Vault Agent
	// re-reads at least this often. 0 (a config stored before it existed)
	// is the default.
	MaxTTL time.Duration `json:"max_ttl,omitempty"`
	// CheckInterval is how often the background asks Jawbone whether it
	// still accepts a healthy token. 0 is the default.
	CheckInterval time.Duration `json:"check_interval,omitempty"`
	// MaxChecksPerMinute bounds those checks, so that a large mount does
	// not flood Jawbone: the longest unchecked go first. 0 is the default.
	MaxChecksPerMinute int `json:"max_checks_per_minute,omitempty"`
	// LocalDevelopment allows http:// endpoints on a loopback host, for
	// local development and tests against the fake.
	LocalDevelopment bool `json:"local_development,omitempty"`
	// CACert, when set, is the only CA trusted for the endpoints (PEM).
	CACert string `json:"ca_cert,omitempty"`
}

// Defaults and limits of the config.
const (
	defaultAuthURL        = "https://jawbone.com/auth/oauth2/auth"
	defaultTokenURL       = "https://jawbone.com/auth/oauth2/token"
	defaultAPIURL         = "https://jawbone.com/nudge/api/v.1.1"
	defaultRefreshAhead   = 7 * 24 * time.Hour
	defaultRequestTimeout = 30 * time.Second
	maxRequestTimeout     = 5 * time.Minute
	maxRefreshAhead       = 364 * 24 * time.Hour
	defaultMaxTTL         = time.Minute
	minMaxTTL             = 10 * time.Second
	defaultCheckInterval  = time.Hour
	minCheckInterval      = time.Minute
	maxDurationSetting    = 365 * 24 * time.Hour
	// defaultMaxChecksPerMinute checks 6,000 tokens an hour: every token of
	// a mount of that size each check_interval, and a larger mount's in
	// turn, the longest unchecked first.
	defaultMaxChecksPerMinute = 100
	maxMaxChecksPerMinute     = 10000
	// Generous bounds on what a Jawbone registration holds, so a stray
	// megabyte is refused rather than stored and sent to Jawbone.
	maxClientIDLen     = 256
	maxClientSecretLen = 1024
	maxURLLen          = 2048
	maxCACertLen       = 64 << 10
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

// update merges the fields written in d into c (a partial update), fills
// defaults on the first write, and validates the result as a whole. The
// fields with a schema default take it from d on the first write.
func (c *config) update(d *framework.FieldData, first bool) error {
	setString(d, keyClientID, &c.ClientID)
	setString(d, keyClientSecret, &c.ClientSecret)
	setString(d, keyRedirectURI, &c.RedirectURI)
	setString(d, keyCACert, &c.CACert)
	if v, ok := d.GetOk(keyLocalDevelopment); ok {
		c.LocalDevelopment = v.(bool)
	}
	setStringOrDefault(d, keyAuthURL, &c.AuthURL, first)
	setStringOrDefault(d, keyTokenURL, &c.TokenURL, first)
	setStringOrDefault(d, keyAPIURL, &c.APIURL, first)
	setDurationOrDefault(d, keyRefreshAhead, &c.RefreshAhead, first)
	setDurationOrDefault(d, keyRequestTimeout, &c.RequestTimeout, first)
	setDurationOrDefault(d, keyMaxTTL, &c.MaxTTL, first)
	setDurationOrDefault(d, keyCheckInterval, &c.CheckInterval, first)
	if _, ok := d.GetOk(keyMaxChecksPerMinute); ok || first {
		c.MaxChecksPerMinute = d.Get(keyMaxChecksPerMinute).(int)
	}
	if err := c.updateScopes(d); err != nil {
		return err
	}
	return c.validate()
}

func setString(d *framework.FieldData, key string, dst *string) {
	if v, ok := d.GetOk(key); ok {
		*dst = strings.TrimSpace(v.(string))
	}
}

// setStringOrDefault sets a field that has a schema default: the written
// value, else on the first write the default, else the stored value.
func setStringOrDefault(d *framework.FieldData, key string, dst *string, first bool) {
	if _, ok := d.GetOk(key); ok || first {
		*dst = strings.TrimSpace(d.Get(key).(string))
	}
}

// setDurationOrDefault is setStringOrDefault for durations; a stored 0 is a
// value (refresh_ahead=0), not a gap to fill.
func setDurationOrDefault(d *framework.FieldData, key string, dst *time.Duration, first bool) {
	if _, ok := d.GetOk(key); ok || first {
		*dst = time.Duration(d.Get(key).(int)) * time.Second
	}
}

func (c *config) updateScopes(d *framework.FieldData) error {
	raw, okScopes := d.GetOk(keyScopes)
	kiefer, okScope := d.GetOk(keyScope)
	switch {
	case okScopes && okScope:
		return badRequest("give %s or %s (the kiefer name), not both", keyScopes, keyScope)
	case okScope:
		raw, okScopes = kiefer, true
	}
	if !okScopes && len(c.Scopes) > 0 {
		return nil
	}
	var list []string
	if okScopes {
		list = raw.([]string)
	}
	scopes, err := normalizeScopes(keyScopes, list)
	if err != nil {
		return err
	}
	c.Scopes = scopes
	return nil
}

func (c *config) validate() error {
	required := []struct{ key, value string }{
		{keyClientID, c.ClientID}, {keyClientSecret, c.ClientSecret}, {keyRedirectURI, c.RedirectURI},
	}
	for _, f := range required {
		if f.value == "" {
			return badRequest("%s is required", f.key).withFix(fixConfigField(f.key))
		}
	}
	limits := []struct {
		key, value string
		max        int
	}{
		{keyClientID, c.ClientID, maxClientIDLen}, {keyClientSecret, c.ClientSecret, maxClientSecretLen},
		{keyRedirectURI, c.RedirectURI, maxURLLen}, {keyAuthURL, c.AuthURL, maxURLLen},
		{keyTokenURL, c.TokenURL, maxURLLen}, {keyAPIURL, c.APIURL, maxURLLen},
	}
	for _, f := range limits {
		if len(f.value) > f.max {
			return badRequest("%s is %d bytes long; at most %d are allowed", f.key, len(f.value), f.max)
		}
	}
	if strings.ContainsFunc(c.ClientID, isSpaceOrControl) {
		return badRequest("%s must not contain spaces or control characters", keyClientID)
	}
	if err := validateSecureURL(keyRedirectURI, c.RedirectURI, true); err != nil {
		return err
	}
	endpoints := []struct{ key, value string }{{keyAuthURL, c.AuthURL}, {keyTokenURL, c.TokenURL}, {keyAPIURL, c.APIURL}}
	for _, f := range endpoints {
		if err := validateSecureURL(f.key, f.value, c.LocalDevelopment); err != nil {
			return err
		}
	}
	if onJawbonesServer(c.TokenURL) != onJawbonesServer(c.APIURL) {
		return badRequest("%s and %s go together: one is on Jawbone's own server and the other not, so tokens (and, to recover a refresh token, the client secret) would go to one server while accounts are checked at another", keyTokenURL, keyAPIURL).withFix(fixEndpointsTogether)
	}
	if err := validateCACert(c.CACert); err != nil {
		return err
	}
	if err := checkDuration(keyRefreshAhead, c.RefreshAhead, 0, maxRefreshAhead, " (tokens live a year)"); err != nil {
		return err
	}
	if err := checkDuration(keyRequestTimeout, c.RequestTimeout, time.Second, maxRequestTimeout, ""); err != nil {
		return err
	}
	if err := checkDuration(keyMaxTTL, c.MaxTTL, minMaxTTL, maxDurationSetting, ""); err != nil {
		return err
	}
	if err := checkDuration(keyCheckInterval, c.CheckInterval, minCheckInterval, maxDurationSetting, ""); err != nil {
		return err
	}
	if c.MaxChecksPerMinute < 1 || c.MaxChecksPerMinute > maxMaxChecksPerMinute {
		return badRequest("%s must be between 1 and %d; got %d", keyMaxChecksPerMinute, maxMaxChecksPerMinute, c.MaxChecksPerMinute)
	}
	return nil
}

// withDefaults fills the settings a config stored by an older version
// lacks.
func (c *config) withDefaults() *config {
	if c.MaxTTL != 0 && c.CheckInterval != 0 && c.MaxChecksPerMinute != 0 {
		return c
	}
	f := *c
	if f.MaxTTL == 0 {
		f.MaxTTL = defaultMaxTTL
	}
	if f.CheckInterval == 0 {
		f.CheckInterval = defaultCheckInterval
	}
	if f.MaxChecksPerMinute == 0 {
		f.MaxChecksPerMinute = defaultMaxChecksPerMinute
	}
	return &f
}

// normalizeScopes accepts scopes as a list, a comma list or a space-separated
// string (Jawbone's wire form), rejects unknown ones and drops duplicates.
func normalizeScopes(field string, raw []string) ([]string, error) {
	var out []string
	for _, item := range raw {
		for _, s := range strings.Fields(item) {
			if !slices.Contains(jawboneScopes, s) {
				return nil, badRequest("%s: %q is not a Jawbone scope; valid scopes are: %s",
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

// validateSecureURL checks an absolute http(s) URL that must use https,
// unless it points at this machine and loopbackHTTP allows that: always
// for redirect_uri (a browser on the same machine), only with
// local_development for the endpoints Vault itself calls with the client
// secret and the tokens.
func validateSecureURL(field, raw string, loopbackHTTP bool) error {
	u, err := url.Parse(raw)
	if err == nil && u.User != nil {
		// Never echo a password: error messages reach the audit log as-is.
		return badRequest("%s must not carry user:password credentials; got %q", field, redactUserinfo(u))
	}
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return badRequest("%s must be an absolute http(s) URL such as https://example.com/path; got %q", field, raw)
	}
	if u.Fragment != "" {
		return badRequest("%s must not have a #fragment; got %q", field, raw)
	}
	switch {
	case u.Scheme == "https":
		return nil
	case !isLoopbackHost(u.Hostname()):
		return badRequest("%s must use https (http is allowed only for a loopback host such as 127.0.0.1 or localhost, for local use); got %q", field, raw)
	case !loopbackHTTP:
		return badRequest("%s must use https; http on a loopback host is for local development only, and needs %s=true; got %q", field, keyLocalDevelopment, raw).withFix(fixLocalDevelopment)
	}
	return nil
}

// jawbonesOrigin is where Jawbone's own token and API endpoints are.
var jawbonesOrigin = func() string {
	u, _ := url.Parse(defaultTokenURL)
	return origin(u)
}()

// onJawbonesServer reports whether raw is on Jawbone's own server, however
// it is written (letter case, :443, a trailing dot): that server, not the
// string, is what token_url and api_url must agree on.
func onJawbonesServer(raw string) bool {
	u, err := url.Parse(raw)
	return err == nil && origin(u) == jawbonesOrigin
}

// origin is u's scheme, host and port, normalised as a client reaches them:
// lower case, without a trailing dot, without the scheme's default port.
func origin(u *url.URL) string {
	scheme := strings.ToLower(u.Scheme)
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	if port := u.Port(); port != "" && port != defaultPorts[scheme] {
		host = net.JoinHostPort(host, port)
	} else if strings.Contains(host, ":") {
		host = "[" + host + "]" // an IPv6 address without a port
	}
	return scheme + "://" + host
}

var defaultPorts = map[string]string{"https": "443", "http": "80"}

// validateCACert checks that ca_cert, if set, holds PEM certificates.
func validateCACert(pem string) error {
	if pem == "" {
		return nil
	}
	if len(pem) > maxCACertLen {
		return badRequest("%s is %d bytes long; at most %d are allowed", keyCACert, len(pem), maxCACertLen)
	}
	if _, err := certPool(pem); err != nil {
		return badRequest("%s: %v: give the PEM certificate (-----BEGIN CERTIFICATE-----) of the CA that signed the server's certificate", keyCACert, err)
	}
	return nil
}

// certPool is the pool of the certificates in pem.
func certPool(pem string) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(pem)) {
		return nil, errors.New("no PEM certificate could be read from it")
	}
	return pool, nil
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

// client is the Jawbone client for this config, on the backend's clock and
// transport.
func (b *backend) client(c *config) *jawbone.Client {
	return jawbone.New(jawbone.Config{
		ClientID:     c.ClientID,
		ClientSecret: c.ClientSecret,
		RedirectURI:  c.RedirectURI,
		AuthURL:      c.AuthURL,
		TokenURL:     c.TokenURL,
		APIURL:       c.APIURL,
		Timeout:      c.RequestTimeout,
		Transport:    b.transportFor(c),
		Now:          b.now,
		Debug:        b.log().Debug,
	})
}

// tlsTransport is the transport for a config with a ca_cert, kept while
// the ca_cert stays the same so that its connections are reused.
type tlsTransport struct {
	mu        sync.Mutex
	pem       string
	transport http.RoundTripper
}

// transportFor carries c's requests: the backend's (tests replace it), or
// one that trusts only c's ca_cert.
func (b *backend) transportFor(c *config) http.RoundTripper {
	if b.transport != nil || c.CACert == "" {
		return b.transport
	}
	t := &b.tls
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.pem != c.CACert || t.transport == nil {
		pool, err := certPool(c.CACert)
		if err != nil {
			pool = x509.NewCertPool() // validated on write; an empty pool trusts nothing
		}
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
		t.pem, t.transport = c.CACert, tr
	}
	return t.transport
}

// Values handed out by getConfig are shared with the cache: treat them as
// read-only and write changed copies back with putConfig.

func (b *backend) getConfig(ctx context.Context, s logical.Storage) (*config, error) {
	c, err := cachedGet[config](ctx, b.registry.cache, s, configStoragePath)
	if c == nil || err != nil {
		return c, err
	}
	return c.withDefaults(), nil
}

// updateConfig changes the stored config with change, which gets a copy
// (first: none is stored yet). One update at a time, so that partial
// writes racing each other do not lose one another's fields.
func (b *backend) updateConfig(ctx context.Context, s logical.Storage, change func(c *config, first bool) error) (*config, error) {
	defer b.configLock.lock(configStoragePath)()
	stored, err := b.getConfig(ctx, s)
	if err != nil {
		return nil, err
	}
	c := &config{}
	if stored != nil {
		*c = *stored
	}
	if err := change(c, stored == nil); err != nil {
		return nil, err
	}
	if err := b.putConfig(ctx, s, c); err != nil {
		return nil, err
	}
	return c, nil
}

func (b *backend) putConfig(ctx context.Context, s logical.Storage, c *config) error {
	return cachedPut(ctx, b.registry.cache, s, configStoragePath, c)
}

func (b *backend) deleteConfig(ctx context.Context, s logical.Storage) error {
	return cachedDelete(ctx, b.registry.cache, s, configStoragePath)
}

// requireConfig loads the config or explains how to write one.
func (b *backend) requireConfig(ctx context.Context, s logical.Storage) (*config, error) {
	cfg, err := b.getConfig(ctx, s)
	if err != nil {
		return nil, err
	}
	if cfg == nil {
		return nil, badRequest("the engine is not configured").withFix(fixConfigure)
	}
	return cfg, nil
}

// checkDuration refuses a duration setting outside [lo, hi]. The bounds are
// written as an operator would type them ("8736h", not "8736h0m0s").
func checkDuration(key string, d, lo, hi time.Duration, why string) error {
	if d >= lo && d <= hi {
		return nil
	}
	return badRequest("%s must be between %s and %s%s; got %s", key, shortDuration(lo), shortDuration(hi), why, shortDuration(d))
}

// shortDuration is d as Go writes it, without the zero minutes and seconds
// that time.Duration.String appends to whole hours and minutes.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
