// Command fake-jawbone serves the fake Jawbone UP service for the local demo.
// It prints one line, "fake-jawbone listening on http://HOST:PORT", and
// serves until SIGINT or SIGTERM.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/jawbone-vault/vault-plugin-secrets-jawbone/fakejawbone"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "fake-jawbone:", err)
		os.Exit(1)
	}
}

type options struct {
	listen      string
	allowRemote bool
	deny        bool
	cfg         fakejawbone.Config
}

func parseFlags(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("fake-jawbone", flag.ContinueOnError)
	fs.StringVar(&o.listen, "listen", "127.0.0.1:0", "address to listen on")
	fs.BoolVar(&o.allowRemote, "allow-remote", false, "allow listening on a non-loopback address")
	fs.StringVar(&o.cfg.ClientID, "client-id", "demo-client", "the registered app's client_id")
	fs.StringVar(&o.cfg.ClientSecret, "client-secret", "demo-secret", "the registered app's client_secret")
	fs.StringVar(&o.cfg.RedirectURIPrefix, "redirect-uri-prefix", "", "registered redirect URI (prefix); empty accepts any")
	fs.DurationVar(&o.cfg.TokenLifetime, "token-lifetime", fakejawbone.DefaultTokenLifetime, "access token lifetime")
	fs.BoolVar(&o.deny, "deny", false, "deny every authorization request")
	fs.BoolVar(&o.cfg.ConsentPage, "consent", false, "show an Allow/Deny page instead of approving at once")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	return o, nil
}

func run(args []string) error {
	o, err := parseFlags(args)
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
