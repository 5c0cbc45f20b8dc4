// Command fake-jawbone serves the fake Jawbone UP service for the local
// demo, and mints grants at a fake that is running.
//
// Usage:
//
//	fake-jawbone [-listen 127.0.0.1:0] [-consent] [-deny] [-account xid] [flags]
//	fake-jawbone mint -url http://127.0.0.1:PORT [-client-id demo-client] [-client-secret demo-secret] [-scopes basic_read,move_read] [-account xid]
//
// With no subcommand it serves: it prints one line, "fake-jawbone listening
// on http://HOST:PORT", and serves until SIGINT or SIGTERM.
//
// mint asks the fake at -url for a new grant, as if a user had authorized
// the app in a browser (the fake's own /_fake/mint endpoint, which Jawbone
// never had), and prints it one key=value a line:
//
//	access_token=…
//	refresh_token=…
//	expires_in=31536000
//	user_xid=…
//
// Every value is checked to be plain letters, digits, '_' and '-', so a
// shell may read them with eval "$(fake-jawbone mint -url "$url")".
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/jawbone-vault/vault-plugin-secrets-jawbone/fakejawbone"
)

// The demo app's credentials, the same for serving and minting.
const (
	demoClientID     = "demo-client"
	demoClientSecret = "demo-secret"
)

// usage is the synopsis printed above each command's flags.
const usage = `usage:
  fake-jawbone [flags]        serve the fake Jawbone UP service
  fake-jawbone mint -url URL [-client-id ID] [-client-secret SECRET] [-scopes basic_read,move_read] [-account XID]
                              mint a grant at the fake at URL and print
                              access_token=, refresh_token=, expires_in= and
                              user_xid=, one key=value a line
`

func main() {
	if err := run(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return // the usage is printed already; asking for it is no failure
		}
		fmt.Fprintln(os.Stderr, "fake-jawbone:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) > 0 && args[0] == "mint" {
		return runMint(context.Background(), args[1:], os.Stdout, os.Stderr)
	}
	return runServe(args)
}

type options struct {
	listen      string
	allowRemote bool
	deny        bool
	cfg         fakejawbone.Config
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("fake-jawbone", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usage, "\nflags for serving:\n")
		fs.PrintDefaults()
	}
	fs.StringVar(&o.listen, "listen", "127.0.0.1:0", "address to listen on")
	fs.BoolVar(&o.allowRemote, "allow-remote", false, "allow listening on a non-loopback address")
	fs.StringVar(&o.cfg.ClientID, "client-id", demoClientID, "the registered app's client_id")
	fs.StringVar(&o.cfg.ClientSecret, "client-secret", demoClientSecret, "the registered app's client_secret")
	fs.StringVar(&o.cfg.RedirectURIPrefix, "redirect-uri-prefix", "", "registered redirect URI (prefix); empty accepts any")
	fs.DurationVar(&o.cfg.TokenLifetime, "token-lifetime", fakejawbone.DefaultTokenLifetime, "access token lifetime")
	fs.BoolVar(&o.deny, "deny", false, "deny every authorization request")
	fs.BoolVar(&o.cfg.ConsentPage, "consent", false, "show an Allow/Deny page instead of approving at once")
	fs.StringVar(&o.cfg.AccountXID, "account", "", "the default account's xid (letters, digits, _ and -); empty picks a random one")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	if o.cfg.AccountXID != "" {
		if err := fakejawbone.ValidateAccountXID(o.cfg.AccountXID); err != nil {
			return o, fmt.Errorf("-account: %w", err)
		}
	}
	return o, nil
}

func runServe(args []string) error {
	o, err := parseFlags(args, os.Stderr)
	if err != nil {
		return err
	}
	if err := checkLoopback(o.listen, o.allowRemote); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return err
	}
	fake := fakejawbone.New(o.cfg)
	fake.SetDeny(o.deny)
	fmt.Printf("fake-jawbone listening on %s\n", baseURL(ln.Addr().(*net.TCPAddr)))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return serve(ctx, ln, fake)
}

// serve runs until ctx ends, then lets requests in flight finish.
func serve(ctx context.Context, ln net.Listener, fake *fakejawbone.Server) error {
	srv := &http.Server{Handler: fake, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	fake.Close() // end injected delays, so Shutdown need not wait them out
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// checkLoopback refuses addresses other machines could reach: the fake
// hands out tokens to anyone who asks. An empty host means every interface.
func checkLoopback(listen string, allowRemote bool) error {
	if allowRemote {
		return nil
	}
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return fmt.Errorf("-listen %q: %w", listen, err)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("-listen %q is not a loopback address; pass -allow-remote to listen there anyway", listen)
}

// baseURL is the URL a local client reaches the listener at. A wildcard
// address (allowed with -allow-remote) is reachable at 127.0.0.1.
func baseURL(addr *net.TCPAddr) string {
	host := addr.IP.String()
	if addr.IP.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, fmt.Sprint(addr.Port))
}
