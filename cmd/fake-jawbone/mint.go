package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/jawbone-vault/vault-plugin-secrets-jawbone/fakejawbone"
)

// mintTimeout bounds the whole mint request: the fake answers at once.
const mintTimeout = 10 * time.Second

// maxMintReply bounds what is read of the fake's reply.
const maxMintReply = 64 << 10

type mintOptions struct {
	url, clientID, clientSecret, scopes, account string
}

func parseMintFlags(args []string, stderr io.Writer) (mintOptions, error) {
	var o mintOptions
	fs := flag.NewFlagSet("fake-jawbone mint", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usage, "\nflags for mint:\n")
		fs.PrintDefaults()
	}
	fs.StringVar(&o.url, "url", "", "base URL of the running fake, as it printed it (required)")
	fs.StringVar(&o.clientID, "client-id", demoClientID, "the app's client_id")
	fs.StringVar(&o.clientSecret, "client-secret", demoClientSecret, "the app's client_secret")
	fs.StringVar(&o.scopes, "scopes", "", "comma-separated scopes; empty means basic_read")
	fs.StringVar(&o.account, "account", "", "the account that owns the grant; empty means the fake's default account")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("mint: unexpected arguments: %v", fs.Args())
	}
	return o, checkMintOptions(o)
}

func checkMintOptions(o mintOptions) error {
	if o.url == "" {
		return errors.New("mint: -url is required")
	}
	u, err := url.Parse(o.url)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("mint: -url %q is not an http or https URL", o.url)
	}
	if o.account != "" {
		if err := fakejawbone.ValidateAccountXID(o.account); err != nil {
			return fmt.Errorf("mint: -account: %w", err)
		}
	}
	return nil
}

// mintReply is the fake's answer, in the order it is printed.
type mintReply struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	ExpiresIn    int64  `json:"expires_in"`
	UserXID      string `json:"user_xid"`
}

// runMint mints a grant at the fake and prints it for a shell to read.
func runMint(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseMintFlags(args, stderr)
	if err != nil {
		return err
	}
	reply, err := requestMint(ctx, o)
	if err != nil {
		return err
	}
	return printMint(stdout, reply)
}

// requestMint posts the form. Redirects are not followed: the fake never
// sends one, and the client secret must go only where -url says.
func requestMint(ctx context.Context, o mintOptions) (mintReply, error) {
	form := url.Values{"client_id": {o.clientID}, "client_secret": {o.clientSecret}}
	if scope := scopeParam(o.scopes); scope != "" {
		form.Set("scope", scope)
	}
	if o.account != "" {
		form.Set("account", o.account)
	}
	ctx, cancel := context.WithTimeout(ctx, mintTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, fakejawbone.MintURL(o.url), strings.NewReader(form.Encode()))
	if err != nil {
		return mintReply{}, fmt.Errorf("mint: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		return mintReply{}, fmt.Errorf("mint: %w", err)
	}
	defer resp.Body.Close()
	return decodeMint(resp)
}

// scopeParam turns "basic_read, move_read" into the space-separated list
// OAuth uses.
func scopeParam(scopes string) string {
	return strings.Join(strings.FieldsFunc(scopes, func(r rune) bool { return r == ',' || r == ' ' }), " ")
}

func decodeMint(resp *http.Response) (mintReply, error) {
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxMintReply))
	if err != nil {
		return mintReply{}, fmt.Errorf("mint: reading the reply: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Code        string `json:"error"`
			Description string `json:"error_description"`
		}
		if json.Unmarshal(body, &e) == nil && e.Code != "" {
			return mintReply{}, fmt.Errorf("mint: the fake refused: %s: %s", e.Code, e.Description)
		}
		return mintReply{}, fmt.Errorf("mint: the fake answered HTTP %d", resp.StatusCode)
	}
	var m mintReply
	if err := json.Unmarshal(body, &m); err != nil {
		return mintReply{}, fmt.Errorf("mint: the reply is not the fake's JSON: %w", err)
	}
	return m, nil
}

// printMint writes one key=value a line, after checking that every value
// is safe for a shell to eval unquoted: the reply came over the network.
func printMint(w io.Writer, m mintReply) error {
	lines := []struct{ key, value string }{
		{"access_token", m.AccessToken},
		{"refresh_token", m.RefreshToken},
		{"expires_in", fmt.Sprint(m.ExpiresIn)},
		{"user_xid", m.UserXID},
	}
	for _, l := range lines {
		if !shellSafe(l.value) {
			return fmt.Errorf("mint: the reply's %s is empty or not plain letters, digits, '_' and '-'", l.key)
		}
	}
	for _, l := range lines {
		if _, err := fmt.Fprintf(w, "%s=%s\n", l.key, l.value); err != nil {
			return err
		}
	}
	return nil
}

func shellSafe(v string) bool {
	return v != "" && strings.IndexFunc(v, notPlain) < 0
}

func notPlain(c rune) bool {
	plain := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-'
	return !plain
}
