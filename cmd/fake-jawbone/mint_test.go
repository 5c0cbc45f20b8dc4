package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/jawbone-vault/vault-plugin-secrets-jawbone/fakejawbone"
)

// startDemoFake serves a fake with the demo app's credentials, as
// fake-jawbone does by default.
func startDemoFake(t *testing.T) (*fakejawbone.Server, string) {
	t.Helper()
	fake, ts := fakejawbone.NewTestServer(t, fakejawbone.Config{
		ClientID: demoClientID, ClientSecret: demoClientSecret, AccountXID: "demo-account",
	})
	return fake, ts.URL
}

// The mint subcommand prints a working grant as key=value lines.
func TestMintCommand(t *testing.T) {
	fake, base := startDemoFake(t)
	cases := []struct {
		name        string
		args        []string
		wantAccount string
	}{
		{"defaults", []string{"-url", base}, "demo-account"},
		{"account", []string{"-url", base, "-account", "someone_else"}, "someone_else"},
		{"scopes", []string{"-url", base, "-scopes", "basic_read,move_read, sleep_read"}, "demo-account"},
		{"trailing slash", []string{"-url", base + "/"}, "demo-account"},
		{"explicit credentials", []string{"-url", base, "-client-id", demoClientID, "-client-secret", demoClientSecret},
			"demo-account"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var out bytes.Buffer
			if err := runMint(context.Background(), c.args, &out, &bytes.Buffer{}); err != nil {
				t.Fatalf("mint %v: %v", c.args, err)
			}
			got := parseKeyValues(t, out.String())
			if got["user_xid"] != c.wantAccount || got["expires_in"] != "31536000" || got["refresh_token"] == "" {
				t.Errorf("mint printed %q, want a year's grant of %s", out.String(), c.wantAccount)
			}
			if xid, ok := fake.AccountOf(got["access_token"]); !ok || xid != c.wantAccount {
				t.Errorf("the printed access token: AccountOf = %q, %v; want a working token of %s", xid, ok, c.wantAccount)
			}
		})
	}
}

// parseKeyValues reads mint's output as a shell would, failing unless it
// is exactly the four keys in order.
func parseKeyValues(t *testing.T, out string) map[string]string {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	wantKeys := []string{"access_token", "refresh_token", "expires_in", "user_xid"}
	if len(lines) != len(wantKeys) {
		t.Fatalf("mint printed %q, want %d lines", out, len(wantKeys))
	}
	kv := map[string]string{}
	for i, line := range lines {
		key, value, ok := strings.Cut(line, "=")
		if !ok || key != wantKeys[i] || !shellSafe(value) {
			t.Fatalf("line %d is %q, want %s=<plain value>", i+1, line, wantKeys[i])
		}
		kv[key] = value
	}
	return kv
}

func TestMintCommandErrors(t *testing.T) {
	_, base := startDemoFake(t)
	var requests atomic.Int64
	counted := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		w.WriteHeader(http.StatusTeapot)
	}))
	t.Cleanup(counted.Close)
	hostile := replying(t, http.StatusOK, `{"access_token":"$(touch x)","refresh_token":"r","expires_in":1,"user_xid":"u"}`)
	cases := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"no -url", nil, "-url is required"},
		{"not a URL", []string{"-url", "127.0.0.1:1"}, "not an http or https URL"},
		{"ftp", []string{"-url", "ftp://127.0.0.1/"}, "not an http or https URL"},
		{"stray argument", []string{"-url", base, "extra"}, "unexpected arguments"},
		{"bad account", []string{"-url", counted.URL, "-account", "a b"}, "-account"},
		{"wrong secret", []string{"-url", base, "-client-secret", "guess"}, "invalid_client"},
		{"unknown scope", []string{"-url", base, "-scopes", "fly_read"}, "invalid_scope"},
		{"not the fake", []string{"-url", counted.URL}, "HTTP 418"},
		{"unsafe value", []string{"-url", hostile}, "access_token"},
		{"not JSON", []string{"-url", replying(t, http.StatusOK, "<html>")}, "not the fake's JSON"},
		{"redirect not followed", []string{"-url", redirecting(t, counted.URL)}, "HTTP 307"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var out bytes.Buffer
			err := runMint(context.Background(), c.args, &out, &bytes.Buffer{})
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Fatalf("mint %v: error %v, want one naming %q", c.args, err, c.wantErr)
			}
			if out.Len() != 0 {
				t.Errorf("mint printed %q on error", out.String())
			}
		})
	}
	if n := requests.Load(); n != 1 {
		t.Errorf("the counting server got %d requests, want 1 (only \"not the fake\")", n)
	}
}

func replying(t *testing.T, status int, body string) string {
	t.Helper()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		w.Write([]byte(body))
	}))
	t.Cleanup(ts.Close)
	return ts.URL
}

func redirecting(t *testing.T, to string) string {
	t.Helper()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, to+r.URL.Path, http.StatusTemporaryRedirect)
	}))
	t.Cleanup(ts.Close)
	return ts.URL
}

// fake-jawbone mint dispatches to the subcommand; anything else serves.
func TestRunDispatchesMint(t *testing.T) {
	if err := run([]string{"mint"}); err == nil || !strings.Contains(err.Error(), "-url is required") {
		t.Errorf("run(mint) = %v, want the mint subcommand's missing -url", err)
	}
	if err := run([]string{"-listen", "127.0.0.1:0", "mint"}); err == nil || !strings.Contains(err.Error(), "unexpected arguments") {
		t.Errorf("mint after the serving flags = %v, want it refused as a stray argument", err)
	}
}

// Both usages document the mint subcommand and its output.
func TestUsageDocumentsMint(t *testing.T) {
	cases := []struct {
		name  string
		parse func(stderr *bytes.Buffer) error
	}{
		{"serve", func(stderr *bytes.Buffer) error {
			_, err := parseFlags([]string{"-h"}, stderr)
			return err
		}},
		{"mint", func(stderr *bytes.Buffer) error {
			_, err := parseMintFlags([]string{"-h"}, stderr)
			return err
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var stderr bytes.Buffer
			if err := c.parse(&stderr); !errors.Is(err, flag.ErrHelp) {
				t.Fatalf("-h: %v, want flag.ErrHelp", err)
			}
			for _, want := range []string{"fake-jawbone mint -url URL", "key=value", "user_xid=", "-account"} {
				if !strings.Contains(stderr.String(), want) {
					t.Errorf("usage lacks %q:\n%s", want, stderr.String())
				}
			}
		})
	}
}
