package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jawbone-vault/vault-plugin-secrets-jawbone/fakejawbone"
)

func TestCheckLoopback(t *testing.T) {
	cases := []struct {
		listen      string
		allowRemote bool
		wantErr     bool
	}{
		{"127.0.0.1:0", false, false},
		{"[::1]:8080", false, false},
		{"localhost:8080", false, false},
		{"127.0.0.2:8080", false, false},
		{":8080", false, true},
		{"0.0.0.0:8080", false, true},
		{"192.0.2.1:8080", false, true},
		{"example.com:80", false, true},
		{"127.0.0.1", false, true}, // no port
		{"0.0.0.0:8080", true, false},
	}
	for _, c := range cases {
		t.Run(c.listen, func(t *testing.T) {
			if err := checkLoopback(c.listen, c.allowRemote); (err != nil) != c.wantErr {
				t.Errorf("checkLoopback(%q, %v) = %v, want error: %v", c.listen, c.allowRemote, err, c.wantErr)
			}
		})
	}
}

func TestBaseURL(t *testing.T) {
	cases := []struct {
		addr net.TCPAddr
		want string
	}{
		{net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 4242}, "http://127.0.0.1:4242"},
		{net.TCPAddr{IP: net.IPv4zero, Port: 80}, "http://127.0.0.1:80"},
		{net.TCPAddr{IP: net.IPv6loopback, Port: 9}, "http://[::1]:9"},
	}
	for _, c := range cases {
		t.Run(c.want, func(t *testing.T) {
			if got := baseURL(&c.addr); got != c.want {
				t.Errorf("baseURL(%v) = %s, want %s", c.addr, got, c.want)
			}
		})
	}
}

func TestParseFlagsDefaults(t *testing.T) {
	o, err := parseFlags(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.listen != "127.0.0.1:0" || o.cfg.ClientID != "demo-client" || o.cfg.ClientSecret != "demo-secret" ||
		o.cfg.TokenLifetime != 8760*time.Hour || o.cfg.RedirectURIPrefix != "" || o.deny || o.cfg.ConsentPage || o.allowRemote {
		t.Errorf("defaults = %+v", o)
	}
	if _, err := parseFlags([]string{"extra"}, io.Discard); err == nil {
		t.Errorf("a stray argument was accepted")
	}
}

// serve answers until its context ends, then returns cleanly.
func TestServeStopsOnCancel(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, ln, fakejawbone.New(fakejawbone.Config{ClientID: "c", ClientSecret: "s"})) }()

	resp, err := http.Get(fakejawbone.APIURL(baseURL(ln.Addr().(*net.TCPAddr))) + "/users/@me")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("GET /users/@me without a token: %d, want 401", resp.StatusCode)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("serve returned %v after cancel, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not return after cancel")
	}
}

func TestParseFlagsAccount(t *testing.T) {
	cases := []struct {
		name    string
		args    []string
		want    string
		wantErr bool
	}{
		{"default", nil, "", false},
		{"given", []string{"-account", "demo_user-1"}, "demo_user-1", false},
		{"space", []string{"-account", "demo user"}, "", true},
		{"too long", []string{"-account", strings.Repeat("x", 65)}, "", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			o, err := parseFlags(c.args, io.Discard)
			if (err != nil) != c.wantErr || (err == nil && o.cfg.AccountXID != c.want) {
				t.Errorf("parseFlags(%q) = %q, %v; want %q, error %v", c.args, o.cfg.AccountXID, err, c.want, c.wantErr)
			}
		})
	}
}

// The served fake's default account is -account's: mint, as the demo runs
// it, gets a grant of that account.
func TestServeWithAccount(t *testing.T) {
	o, err := parseFlags([]string{"-account", "demo_user"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	fake := fakejawbone.New(o.cfg)
	go func() { done <- serve(ctx, ln, fake) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})

	var out bytes.Buffer
	if err := runMint(context.Background(), []string{"-url", baseURL(ln.Addr().(*net.TCPAddr))}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	got := parseKeyValues(t, out.String())
	if got["user_xid"] != "demo_user" || fake.DefaultAccount() != "demo_user" {
		t.Errorf("mint printed %q, want a grant of demo_user", out.String())
	}
	if xid, ok := fake.AccountOf(got["access_token"]); !ok || xid != "demo_user" {
		t.Errorf("AccountOf(minted) = %q, %v", xid, ok)
	}
}
