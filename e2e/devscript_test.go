package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// devScriptCmd prepares scripts/dev.sh with the suite's binaries and a free
// Vault port.
func devScriptCmd(t *testing.T, ctx context.Context, args ...string) (*exec.Cmd, int) {
	t.Helper()
	env := loadEnv(t)
	pluginDir := filepath.Dir(env.PluginBin)
	bin := os.Getenv("BIN")
	if bin == "" {
		// make builds the fake next to the plugins directory: bin/ and bin/plugins/.
		bin = filepath.Dir(pluginDir)
	}
	if _, err := os.Stat(filepath.Join(bin, "fake-jawbone")); err != nil {
		t.Fatalf("no fake-jawbone in %s (set BIN, or run make build): %v", bin, err)
	}
	port := freePortPair(t)
	cmd := exec.CommandContext(ctx, filepath.Join(env.RepoRoot, "scripts", "dev.sh"), args...)
	cmd.Dir = env.RepoRoot
	cmd.Env = cleanEnv(
		"HOME="+t.TempDir(),
		"TMPDIR="+t.TempDir(),
		"VAULT_BIN="+env.VaultBin,
		"PLUGIN_DIR="+pluginDir,
		"PLUGIN_VERSION="+env.PluginVersion,
		"BIN="+bin,
		"DEV_VAULT_PORT="+strconv.Itoa(port),
		"DEV_WALKTHROUGH=",
	)
	return cmd, port
}

func portClosed(port int) bool {
	c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
	if err != nil {
		return true
	}
	c.Close()
	return false
}

// TestDevScriptOnce: `scripts/dev.sh --once` starts everything, runs the
// README walkthrough (which prints a token) and exits 0, leaving nothing
// running.
func TestDevScriptOnce(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd, port := devScriptCmd(t, ctx, "--once")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	out := stdout.String()
	if err != nil {
		t.Fatalf("scripts/dev.sh --once failed: %v\nstdout:\n%s\nstderr:\n%s", err, out, stderr.String())
	}
	for _, want := range []string{
		fmt.Sprintf("export VAULT_ADDR=http://127.0.0.1:%d", port),
		"export VAULT_TOKEN=root",
		"$ vault read jawbone/auth-url",
		`curl -s -o /dev/null -w '%{redirect_url}' "$(vault read -field=url jawbone/auth-url)"`,
		"$ vault read jawbone/creds/me",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("dev.sh output lacks %q\nstdout:\n%s\nstderr:\n%s", want, out, stderr.String())
		}
	}
	// The walkthrough's last command printed a token.
	m := regexp.MustCompile(`(?m)^access_token\s+(\S+)\s*$`).FindStringSubmatch(out)
	if m == nil || len(m[1]) < 8 {
		t.Errorf("the walkthrough printed no access token\nstdout:\n%s\nstderr:\n%s", out, stderr.String())
	}
	if !portClosed(port) {
		t.Errorf("Vault still listens on %d after dev.sh --once exited", port)
	}
}

// TestDevScriptStopsOnSignal: without --once the script keeps running until
// interrupted, then stops Vault and the fake by their PIDs.
func TestDevScriptStopsOnSignal(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd, port := devScriptCmd(t, ctx)
	outPath := filepath.Join(t.TempDir(), "dev.out")
	outFile, err := os.Create(outPath)
	if err != nil {
		t.Fatal(err)
	}
	defer outFile.Close()
	cmd.Stdout, cmd.Stderr = outFile, outFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// done is closed when the script has exited; waitErr is then its result.
	done := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		select {
		case <-done:
		default:
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-done:
			case <-time.After(stopTimeout):
				_ = cmd.Process.Kill()
				<-done
			}
		}
	})
	readOut := func() string { b, _ := os.ReadFile(outPath); return string(b) }
	waitFor(t, 2*time.Minute, "dev.sh to say it is ready", func() (bool, error) {
		select {
		case <-done:
			t.Fatalf("dev.sh exited before it was ready (%v):\n%s", waitErr, readOut())
		default:
		}
		return strings.Contains(readOut(), "Press Ctrl-C"), nil
	})
	if portClosed(port) {
		t.Fatalf("dev.sh says ready but nothing listens on %d:\n%s", port, readOut())
	}
	fakeURL := regexp.MustCompile(`fake Jawbone is at (http://127\.0\.0\.1:(\d+))`).FindStringSubmatch(readOut())
	if fakeURL == nil {
		t.Fatalf("dev.sh did not say where the fake Jawbone is:\n%s", readOut())
	}
	fakePort, _ := strconv.Atoi(fakeURL[2])

	// Ctrl-C: SIGINT to the script alone (a terminal would also send it to
	// the children, which as background jobs of a script ignore it).
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("dev.sh did not exit within 30s of SIGINT:\n%s", readOut())
	}
	if !strings.Contains(readOut(), "stopped") {
		t.Errorf("dev.sh did not report stopping:\n%s", readOut())
	}
	if !portClosed(port) {
		t.Errorf("Vault still listens on %d after dev.sh was interrupted", port)
	}
	if !portClosed(fakePort) {
		t.Errorf("the fake Jawbone still listens on %d after dev.sh was interrupted", fakePort)
	}
}
