package fakejawbone

import (
	"net/http/httptest"
	"testing"
)

// NewTestServer serves a new fake on 127.0.0.1 (httptest listens on the
// loopback only) for the duration of the test.
func NewTestServer(t testing.TB, cfg Config) (*Server, *httptest.Server) {
	t.Helper()
	s := New(cfg)
	ts := httptest.NewServer(s)
	t.Cleanup(func() {
		// Release delayed handlers first: ts.Close waits for them.
		s.Close()
		ts.Close()
	})
	return s, ts
}
