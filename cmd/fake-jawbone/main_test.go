package main

import (
	"context"
	"net"
	"net/http"
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
	o, err := parseFlags(nil)
	if err != nil {
		t.Fatal(err)
	}
	if o.listen != "127.0.0.1:0" || o.cfg.ClientID != "demo-client" || o.cfg.ClientSecret != "demo-secret" ||
		o.cfg.TokenLifetime != 8760*time.Hour || o.cfg.RedirectURIPrefix != "" || o.deny || o.cfg.ConsentPage || o.allowRemote {
		t.Errorf("defaults = %+v", o)
	}
	if _, err := parseFlags([]string{"extra"}); err == nil {
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
