package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestAgentRerendersAfterRefresh: Vault Agent renders the access token, and
// after the token's refresh point renders the new one, long before Agent's
// 5-minute default for lease-less secrets.
func TestAgentRerendersAfterRefresh(t *testing.T) {
	const (
		lifetime     = 20 * time.Second
		refreshAhead = 10 * time.Second
	)
	f := StartFake(t, withTokenLifetime(lifetime))
	v := StartVaultWithPlugin(t)
	v.ConfigureFor(f, fmt.Sprintf("refresh_ahead=%ds", int(refreshAhead.Seconds())))
	v.Authorize(f, "me")

	creds := v.Creds("me")
	first, _ := creds["access_token"].(string)
	ttl, _ := creds["ttl"].(float64)
	if _, ok := creds["rotation_period"]; !ok {
		t.Fatalf("creds/me has no rotation_period, so Agent would not re-read it after ttl: %v", creds)
	}
	if ttl <= 0 || ttl > (lifetime-refreshAhead).Seconds() {
		t.Fatalf("creds/me ttl = %v, want 0 < ttl <= %v (seconds until the refresh point)", creds["ttl"], (lifetime - refreshAhead).Seconds())
	}

	started := time.Now()
	readOut := startAgent(t, v, "me")
	if got := readOut(); got != first {
		t.Fatalf("Agent rendered %q, want the current token %q", got, first)
	}

	// The refresh point is ttl seconds away; Agent re-reads at ttl+1 and that
	// read refreshes. Allow generous slack, still far below 5 minutes.
	deadline := time.Duration(ttl)*time.Second + 30*time.Second
	waitFor(t, deadline, "Agent to render a refreshed token", func() (bool, error) {
		return readOut() != first && readOut() != "", nil
	})
	second := readOut()
	t.Logf("Agent rendered the refreshed token %s after the first", time.Since(started).Round(time.Second))
	f.requireTokenWorks(t, second, "the token Agent rendered after the refresh")
	f.requireTokenRejected(t, first, "the token Agent rendered first, after the refresh")
	if got := v.AccessToken("me"); got != second {
		// A read right now may itself have refreshed only if the next refresh
		// point passed; with 10 s between refresh points it has not.
		t.Errorf("creds/me returns %q, Agent rendered %q", got, second)
	}
}

// TestAgentPicksUpAnyChangeWithinMaxTTL: a token that changes outside the
// refresh schedule — a forced refresh, an import — reaches Agent's file
// within max_ttl, with no restart, though the token itself lives a year.
func TestAgentPicksUpAnyChangeWithinMaxTTL(t *testing.T) {
	const maxTTL = 10 * time.Second
	f := StartFake(t)
	v := StartVaultWithPlugin(t)
	v.ConfigureFor(f, fmt.Sprintf("max_ttl=%ds", int(maxTTL.Seconds())))
	v.Authorize(f, "me")
	first := v.AccessToken("me")
	if ttl, _ := v.Creds("me")["ttl"].(float64); ttl != (maxTTL - time.Second).Seconds() {
		t.Fatalf("creds/me ttl = %v with max_ttl %s, want %v", ttl, maxTTL, (maxTTL - time.Second).Seconds())
	}
	readOut := startAgent(t, v, "me")
	if got := readOut(); got != first {
		t.Fatalf("Agent rendered %q, want the current token %q", got, first)
	}
	// Agent re-reads ttl+1 = max_ttl after its last read; allow for a slow
	// machine, but far below the year the token lives and Agent's 5 minutes.
	within := maxTTL + 15*time.Second
	changes := []struct {
		what string
		make func() string
	}{
		{"a forced refresh", func() string {
			return v.WriteJSON(mountPath + "/creds/me/refresh").Data["access_token"].(string)
		}},
		{"an import of another grant", func() string {
			_, refresh := f.Issue()
			return v.WriteJSON(mountPath+"/creds/me", "refresh_token="+refresh).Data["access_token"].(string)
		}},
	}
	for _, c := range changes {
		token := c.make()
		changed := time.Now()
		waitFor(t, within, "Agent to render the token after "+c.what, func() (bool, error) {
			return readOut() == token, nil
		})
		t.Logf("Agent rendered the token %s after %s", time.Since(changed).Round(time.Second), c.what)
		f.requireTokenWorks(t, token, "the token Agent rendered after "+c.what)
	}
}

// startAgent runs Vault Agent with a template that renders the access token
// of name, authenticated with the least-privileged token from a file, waits
// for the first rendering and returns a reader of the rendered file.
func startAgent(t *testing.T, v *Vault, name string) (readOut func() string) {
	t.Helper()
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "vault-token")
	writeFile(t, tokenFile, v.credsReaderToken())
	out := filepath.Join(dir, "jawbone-token")
	config := filepath.Join(dir, "agent.hcl")
	writeFile(t, config, fmt.Sprintf(`
pid_file = %q

vault {
  address = %q
}

auto_auth {
  method "token_file" {
    config = {
      token_file_path = %q
    }
  }
}

template_config {
  exit_on_retry_failure = true
}

template {
  contents    = "{{ with secret \"jawbone/creds/%s\" }}{{ .Data.access_token }}{{ end }}"
  destination = %q
}
`, filepath.Join(dir, "agent.pid"), v.Addr, tokenFile, name, out))
	agent := startProc(t, "vault agent", filepath.Join(dir, "agent.log"),
		cleanEnv("HOME="+v.home), v.env.VaultBin, "agent", "-config="+config)
	readOut = func() string {
		if agent.exited() {
			t.Fatalf("vault agent exited: %v", agent.waitErr)
		}
		b, _ := os.ReadFile(out)
		return strings.TrimSpace(string(b))
	}
	waitFor(t, 30*time.Second, "Agent to render the token", func() (bool, error) {
		return readOut() != "", nil
	})
	return readOut
}
