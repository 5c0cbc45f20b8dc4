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

	// Agent authenticates with the least-privileged token from a file.
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
  contents    = "{{ with secret \"jawbone/creds/me\" }}{{ .Data.access_token }}{{ end }}"
  destination = %q
}
`, filepath.Join(dir, "agent.pid"), v.Addr, tokenFile, out))

	started := time.Now()
	agent := startProc(t, "vault agent", filepath.Join(dir, "agent.log"),
		cleanEnv("HOME="+v.home), v.env.VaultBin, "agent", "-config="+config)

	readOut := func() string {
		b, _ := os.ReadFile(out)
		return strings.TrimSpace(string(b))
	}
	waitFor(t, 30*time.Second, "Agent to render the token", func() (bool, error) {
		if agent.exited() {
			t.Fatalf("vault agent exited: %v", agent.waitErr)
		}
		return readOut() != "", nil
	})
	if got := readOut(); got != first {
		t.Fatalf("Agent rendered %q, want the current token %q", got, first)
	}

	// The refresh point is ttl seconds away; Agent re-reads at ttl+1 and that
	// read refreshes. Allow generous slack, still far below 5 minutes.
	deadline := time.Duration(ttl)*time.Second + 30*time.Second
	waitFor(t, deadline, "Agent to render a refreshed token", func() (bool, error) {
		if agent.exited() {
			t.Fatalf("vault agent exited: %v", agent.waitErr)
		}
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
