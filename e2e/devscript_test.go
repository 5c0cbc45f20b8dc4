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
// copy-paste walkthrough (which prints a token) and exits 0, leaving nothing
// running. The redirect_uri is not Vault's callback, so the walkthrough's
// auth-url says callback_in_use false.
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
		"export FAKE_URL=http://127.0.0.1:",
		`$ url="$(vault read -field=url jawbone/auth-url)"; echo "$url"`,
		`$ landed="$(curl -s -o /dev/null -w '%{redirect_url}' "$url")"; echo "$landed"`,
		`$ vault write jawbone/exchange redirect_url="$landed"`,
		"$ vault read jawbone/creds/me",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("dev.sh output lacks %q\nstdout:\n%s\nstderr:\n%s", want, out, stderr.String())
		}
	}
	// The pasted URL is the landing page's, not Vault's callback.
	if !strings.Contains(out, fmt.Sprintf("\nhttp://127.0.0.1:%d/landing?code=", port)) {
		t.Errorf("the walkthrough did not print the URL the browser landed on\nstdout:\n%s", out)
	}
	// Its redirect_uri is not Vault's callback, whose flow needs no paste.
	if !strings.Contains(out, fmt.Sprintf("redirect_uri http://127.0.0.1:%d/landing)", port)) {
		t.Errorf("the copy-paste walkthrough does not use a redirect_uri outside Vault\nstdout:\n%s", out)
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

// devScript is scripts/dev.sh running in the background, as `make dev`.
type devScript struct {
	cmd     *exec.Cmd
	port    int
	outPath string
	done    chan struct{} // closed when the script has exited
	waitErr error         // its result, once done is closed
}

// startDevScript starts scripts/dev.sh (with args) and waits until it says
// it is ready. The script is stopped when the test ends.
func startDevScript(t *testing.T, args ...string) *devScript {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	t.Cleanup(cancel)
	cmd, port := devScriptCmd(t, ctx, args...)
	d := &devScript{cmd: cmd, port: port, outPath: filepath.Join(t.TempDir(), "dev.out"), done: make(chan struct{})}
	outFile, err := os.Create(d.outPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { outFile.Close() })
	cmd.Stdout, cmd.Stderr = outFile, outFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.waitErr = cmd.Wait(); close(d.done) }()
	t.Cleanup(func() {
		select {
		case <-d.done:
		default:
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-d.done:
			case <-time.After(stopTimeout):
				_ = cmd.Process.Kill()
				<-d.done
			}
		}
	})
	waitFor(t, 2*time.Minute, "dev.sh to say it is ready", func() (bool, error) {
		select {
		case <-d.done:
			t.Fatalf("dev.sh exited before it was ready (%v):\n%s", d.waitErr, d.output())
		default:
		}
		return strings.Contains(d.output(), "Press Ctrl-C"), nil
	})
	if portClosed(port) {
		t.Fatalf("dev.sh says ready but nothing listens on %d:\n%s", port, d.output())
	}
	return d
}

func (d *devScript) output() string { b, _ := os.ReadFile(d.outPath); return string(b) }

// exports are the `export NAME=value` lines dev.sh prints for a second
// shell, as a shell script.
func (d *devScript) exports(t *testing.T) string {
	t.Helper()
	lines := regexp.MustCompile(`(?m)^\s*export [A-Z_]+=.*$`).FindAllString(d.output(), -1)
	if len(lines) == 0 {
		t.Fatalf("dev.sh printed no export lines:\n%s", d.output())
	}
	for i := range lines {
		lines[i] = strings.TrimSpace(lines[i])
	}
	return strings.Join(lines, "\n") + "\n"
}

// interrupt sends SIGINT to the script alone, as Ctrl-C does (a terminal
// would also send it to the children, which as background jobs of a script
// ignore it), and waits for it to exit.
func (d *devScript) interrupt(t *testing.T) {
	t.Helper()
	if err := d.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-d.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("dev.sh did not exit within 30s of SIGINT:\n%s", d.output())
	}
}

// TestDevScriptStopsOnSignal: without --once the script keeps running until
// interrupted, then stops Vault and the fake by their PIDs, exits 0 (so
// make reports no failure) and says where its logs are kept.
func TestDevScriptStopsOnSignal(t *testing.T) {
	d := startDevScript(t)
	fakeURL := regexp.MustCompile(`fake Jawbone is at (http://127\.0\.0\.1:(\d+))`).FindStringSubmatch(d.output())
	if fakeURL == nil {
		t.Fatalf("dev.sh did not say where the fake Jawbone is:\n%s", d.output())
	}
	fakePort, _ := strconv.Atoi(fakeURL[2])

	d.interrupt(t)
	if d.waitErr != nil {
		t.Errorf("dev.sh exited with %v after Ctrl-C, want 0:\n%s", d.waitErr, d.output())
	}
	logs := regexp.MustCompile(`stopped; the logs are in (\S+)`).FindStringSubmatch(d.output())
	if logs == nil {
		t.Fatalf("dev.sh did not say where its logs are:\n%s", d.output())
	}
	if b, err := os.ReadFile(filepath.Join(logs[1], "vault.log")); err != nil || len(b) == 0 {
		t.Errorf("Vault's log was not kept in %s (%v)", logs[1], err)
	}
	if !portClosed(d.port) {
		t.Errorf("Vault still listens on %d after dev.sh was interrupted", d.port)
	}
	if !portClosed(fakePort) {
		t.Errorf("the fake Jawbone still listens on %d after dev.sh was interrupted", fakePort)
	}
}

// TestMakeDevEndsQuietlyOnCtrlC: Ctrl-C at the terminal reaches make and
// the script alike (one process group); make then reports no error, since
// that is how the demo ends, and the script says where its logs are.
func TestMakeDevEndsQuietlyOnCtrlC(t *testing.T) {
	env := loadEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	port := freePortPair(t)
	pluginDir := filepath.Dir(env.PluginBin)
	// -o build: the suite's binaries are built already; make runs only dev.
	cmd := exec.CommandContext(ctx, "make", "--no-print-directory", "-o", "build", "dev",
		"VAULT_BIN="+env.VaultBin, "PLUGIN_DIR="+pluginDir, "BIN="+filepath.Dir(pluginDir), "VERSION="+env.PluginVersion)
	cmd.Dir = env.RepoRoot
	cmd.Env = cleanEnv("HOME="+t.TempDir(), "TMPDIR="+t.TempDir(), "DEV_VAULT_PORT="+strconv.Itoa(port), "VAULT_BIN="+env.VaultBin)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	outPath := filepath.Join(t.TempDir(), "make-dev.out")
	outFile, err := os.Create(outPath)
	if err != nil {
		t.Fatal(err)
	}
	defer outFile.Close()
	cmd.Stdout, cmd.Stderr = outFile, outFile
	output := func() string { b, _ := os.ReadFile(outPath); return string(b) }
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	})
	waitFor(t, 2*time.Minute, "make dev to say it is ready", func() (bool, error) {
		select {
		case err := <-done:
			t.Fatalf("make dev exited before it was ready (%v):\n%s", err, output())
		default:
		}
		return strings.Contains(output(), "Press Ctrl-C"), nil
	})
	// The terminal's Ctrl-C: SIGINT to the whole foreground process group.
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		// make itself dies of the SIGINT it got, as any program does: the
		// shell shows no message for that. What reads as a failure is make's
		// own "*** ... Interrupt" line, checked below.
		t.Logf("make dev ended: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatalf("make dev did not end within 30s of Ctrl-C:\n%s", output())
	}
	text := output()
	for _, bad := range []string{"Interrupt", "Error", "***"} {
		if strings.Contains(text, bad) {
			t.Errorf("after Ctrl-C, make dev reports %q, which reads as a failure:\n%s", bad, text)
		}
	}
	if !strings.Contains(text, "dev.sh: stopped; the logs are in ") {
		t.Errorf("make dev did not say where the logs are kept:\n%s", text)
	}
	if !portClosed(port) {
		t.Errorf("Vault still listens on %d after Ctrl-C", port)
	}
}

// TestInstallVaultSaysTheSameWhenCached: with the binary cached, the
// script's line is the same on every call (a build date that moves reads
// as a rebuild).
func TestInstallVaultSaysTheSameWhenCached(t *testing.T) {
	env := loadEnv(t)
	script := filepath.Join(env.RepoRoot, "scripts", "install-vault.sh")
	var lines []string
	for range 2 {
		cmd := exec.Command(script)
		cmd.Env = cleanEnv()
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		stdout, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s: %v\n%s", script, err, stderr.String())
		}
		if got := strings.TrimSpace(string(stdout)); got != env.VaultBin {
			t.Skipf("the suite's vault %s is not the script's cached one (%s)", env.VaultBin, got)
		}
		lines = append(lines, stderr.String())
	}
	if lines[0] != lines[1] || !strings.HasPrefix(lines[0], "install-vault: cached vault ") {
		t.Errorf("install-vault.sh said %q, then %q; want the same cached line twice", lines[0], lines[1])
	}
}
