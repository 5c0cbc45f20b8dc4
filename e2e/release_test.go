package e2e

import (
	"bufio"
	"bytes"
	"context"
	"debug/buildinfo"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"
)

// releaseVersion is what TestRelease stamps into its release build. It
// differs from PLUGIN_VERSION (the bin/plugins build the rest of the suite
// registers), so a version Vault reports for the release binary can only have
// come from this build's -ldflags stamp.
const releaseVersion = "v0.1.1-e2e.release"

// modulePath is the main module of the plugin binary.
const modulePath = "github.com/jawbone-vault/vault-plugin-secrets-jawbone"

// makeTimeout bounds one `make release` for one platform: a link on a warm
// build cache takes seconds, a cold compile of the dependencies a few minutes.
const makeTimeout = 10 * time.Minute

// sha256SumsLine is one line of `sha256sum` output for a binary (text mode:
// two spaces between the hash and the file name).
var sha256SumsLine = regexp.MustCompile(`^([0-9a-f]{64})  (\S+)$`)

// release is one `make release` output directory.
type release struct {
	dir  string
	sums map[string]string // file name -> sha256, exactly as SHA256SUMS has it
	raw  []byte            // SHA256SUMS as written
}

// makeRelease runs the Makefile's release target for the given platforms
// into dist, as a release manager would, and parses its SHA256SUMS.
func makeRelease(t *testing.T, root, dist, version string, platforms ...string) release {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), makeTimeout)
	defer cancel()
	args := []string{"-C", root, "release",
		"VERSION=" + version, "DIST=" + dist, "PLATFORMS=" + strings.Join(platforms, " ")}
	cmd := exec.CommandContext(ctx, "make", args...)
	// When the suite runs under `make e2e`, MAKEFLAGS carries the outer
	// make's command-line variables (VERSION=...), which would override
	// ours in the nested make.
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "MAKEFLAGS=") || strings.HasPrefix(kv, "MFLAGS=") || strings.HasPrefix(kv, "MAKELEVEL=") {
			continue
		}
		env = append(env, kv)
	}
	cmd.Env = env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	started := time.Now()
	if err := cmd.Run(); err != nil {
		if errors.Is(err, exec.ErrNotFound) {
			t.Fatalf("make is required to build the release: %v", err)
		}
		t.Fatalf("make %s: %v (ctx: %v)\n%s", strings.Join(args, " "), err, ctx.Err(), out.String())
	}
	t.Logf("make %s (%s):\n%s", strings.Join(args[2:], " "), time.Since(started).Round(time.Second), out.String())

	r := release{dir: dist, sums: map[string]string{}}
	var err error
	if r.raw, err = os.ReadFile(filepath.Join(dist, "SHA256SUMS")); err != nil {
		t.Fatalf("make release wrote no SHA256SUMS: %v", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(r.raw))
	for sc.Scan() {
		m := sha256SumsLine.FindStringSubmatch(sc.Text())
		if m == nil {
			t.Fatalf("SHA256SUMS line %q is not in sha256sum format (<64 hex digits><two spaces><file>)", sc.Text())
		}
		r.sums[m[2]] = m[1]
	}
	if len(r.sums) != len(platforms) {
		t.Fatalf("SHA256SUMS lists %d files for %d platforms:\n%s", len(r.sums), len(platforms), r.raw)
	}
	return r
}

// releaseFile is the name `make release` gives a platform's binary.
func releaseFile(version, goos, goarch string) string {
	return fmt.Sprintf("%s_%s_%s_%s", pluginName, version, goos, goarch)
}

// TestRelease builds the release binary for this machine with `make release`
// and checks the artifacts, then installs it in a real Vault the way
// docs/operations.md says: registered with the SHA256SUMS value as-is, and
// as an upgrade of a mount that runs another version.
func TestRelease(t *testing.T) {
	env := loadEnv(t)
	goos, goarch := runtime.GOOS, runtime.GOARCH
	switch goos + "/" + goarch {
	case "linux/amd64", "linux/arm64", "darwin/amd64", "darwin/arm64":
	default:
		t.Skipf("the release has no %s/%s binary to run here", goos, goarch)
	}
	platform := goos + "/" + goarch
	file := releaseFile(releaseVersion, goos, goarch)

	rel := makeRelease(t, env.RepoRoot, t.TempDir(), releaseVersion, platform)
	bin := filepath.Join(rel.dir, file)
	sum, ok := rel.sums[file]
	if !ok {
		t.Fatalf("SHA256SUMS has no line for %s:\n%s", file, rel.raw)
	}

	t.Run("artifacts", func(t *testing.T) {
		if got := sha256File(t, bin); got != sum {
			t.Errorf("sha256 of %s is %s, SHA256SUMS says %s", file, got, sum)
		}
		// The file verifies with the standard tool, as a user would check a download.
		if tool, err := exec.LookPath("sha256sum"); err == nil {
			cmd := exec.Command(tool, "--check", "--strict", "SHA256SUMS")
			cmd.Dir = rel.dir
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("sha256sum --check SHA256SUMS: %v\n%s", err, out)
			}
		}
		// The build settings Go embeds in the binary show the release flags.
		info, err := buildinfo.ReadFile(bin)
		if err != nil {
			t.Fatalf("reading the build info of %s: %v", file, err)
		}
		settings := map[string]string{}
		for _, s := range info.Settings {
			settings[s.Key] = s.Value
		}
		for key, want := range map[string]string{
			"CGO_ENABLED": "0",
			"-trimpath":   "true",
			"GOOS":        goos,
			"GOARCH":      goarch,
		} {
			if settings[key] != want {
				t.Errorf("%s was built with %s=%q, want %q", file, key, settings[key], want)
			}
		}
		if info.Main.Path != modulePath {
			t.Errorf("%s is a build of %q, want %q", file, info.Main.Path, modulePath)
		}
		// With -trimpath Go does not record -ldflags; the stamp is checked
		// where it matters, in what the running plugin reports to Vault
		// (install and upgrade below). Here: the version string is in it.
		data, err := os.ReadFile(bin)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(data, []byte(releaseVersion)) {
			t.Errorf("%s does not contain the version %s it was stamped with", file, releaseVersion)
		}
		if rev, ok := settings["vcs.revision"]; ok {
			t.Errorf("%s embeds vcs.revision=%s: a release must be built with -buildvcs=false to be reproducible", file, rev)
		}
	})

	t.Run("reproducible", func(t *testing.T) {
		// The same source and toolchain give the same bytes, wherever the
		// output goes: anyone can rebuild a release and compare SHA256SUMS.
		again := makeRelease(t, env.RepoRoot, t.TempDir(), releaseVersion, platform)
		if !bytes.Equal(again.raw, rel.raw) {
			t.Errorf("a second make release gave another SHA256SUMS:\nfirst:\n%s\nsecond:\n%s", rel.raw, again.raw)
		}
	})

	t.Run("install", func(t *testing.T) {
		v := StartDevVault(t)
		// The binary is copied into the plugin directory under the name it is
		// registered as (the default -command).
		copyFile(t, bin, filepath.Join(v.PluginDir, pluginName), 0o755)

		// The stamp is checked at registration: Vault runs the binary and
		// refuses a -version other than the one it reports.
		wrong := v.CLI("plugin", "register", "-sha256="+sum, "-version=v0.0.1", "secret", pluginName)
		wrong.requireFail(t, releaseVersion)

		v.MustCLI("plugin", "register", "-sha256="+sum, "-version="+releaseVersion, "secret", pluginName)
		v.MustCLI("secrets", "enable", "-path="+mountPath, "-plugin-version="+releaseVersion, pluginName)

		info := pluginInfo(t, v, releaseVersion)
		if info["version"] != releaseVersion || info["sha256"] != sum || info["command"] != pluginName {
			t.Errorf("vault plugin info -version=%s: got version=%v sha256=%v command=%v, want %s, %s, %s",
				releaseVersion, info["version"], info["sha256"], info["command"], releaseVersion, sum, pluginName)
		}
		requireRunning(t, v, releaseVersion, sum)

		// And it is the whole engine, not just a binary that starts.
		f := StartFake(t)
		v.ConfigureFor(f)
		v.Authorize(f, "me")
		f.requireTokenWorks(t, v.AccessToken("me"), "creds/me from the release binary")
	})

	t.Run("upgrade", func(t *testing.T) {
		if env.PluginVersion == releaseVersion {
			t.Skipf("PLUGIN_VERSION is %s, the release test's own version: there is nothing to upgrade from", releaseVersion)
		}
		// A mount running the bin/plugins build (PLUGIN_VERSION) with a grant.
		f := StartFake(t)
		v := StartVaultWithPlugin(t)
		v.ConfigureFor(f)
		v.Authorize(f, "me")
		before := v.AccessToken("me")
		requireRunning(t, v, env.PluginVersion, v.PluginSHA)

		// The new version goes next to the old one under its release file
		// name, registered with -command, so the old registration stays valid
		// for a rollback.
		copyFile(t, bin, filepath.Join(v.PluginDir, file), 0o755)
		v.MustCLI("plugin", "register", "-sha256="+sum, "-command="+file, "-version="+releaseVersion, "secret", pluginName)
		v.MustCLI("secrets", "tune", "-plugin-version="+releaseVersion, mountPath+"/")
		// Tuning pins the version; the mount runs it after a reload.
		requireRunning(t, v, env.PluginVersion, v.PluginSHA)
		res := v.CLI("plugin", "reload", "-type=secret", "-plugin="+pluginName)
		res.requireOK(t)
		requireRunning(t, v, releaseVersion, sum)

		if got := v.AccessToken("me"); got != before {
			t.Errorf("after the upgrade creds/me returns %q, want the same token %q", got, before)
		}
		f.requireTokenWorks(t, before, "creds/me after the upgrade")
		requireForcedRefreshWorks(t, v, f, "me")

		// Rollback is the same two steps with the old version.
		v.MustCLI("secrets", "tune", "-plugin-version="+env.PluginVersion, mountPath+"/")
		v.CLI("plugin", "reload", "-type=secret", "-plugin="+pluginName).requireOK(t)
		requireRunning(t, v, env.PluginVersion, v.PluginSHA)
		v.AccessToken("me")
	})
}

// pluginInfo is the data of `vault plugin info -version=<version> secret <plugin>`.
func pluginInfo(t *testing.T, v *Vault, version string) map[string]any {
	t.Helper()
	res := v.CLI("plugin", "info", "-format=json", "-version="+version, "secret", pluginName)
	res.requireOK(t)
	var info map[string]any
	if err := json.Unmarshal([]byte(res.Stdout), &info); err != nil {
		t.Fatalf("cannot parse vault plugin info output: %v\n%s", err, res.Stdout)
	}
	return info
}

// requireRunning checks, with `vault secrets list -detailed`, which version
// and binary the jawbone/ mount runs. running_plugin_version is what the
// plugin itself reports: the Version stamped into it at build time.
func requireRunning(t *testing.T, v *Vault, version, sha string) {
	t.Helper()
	res := v.CLI("secrets", "list", "-detailed", "-format=json")
	res.requireOK(t)
	var mounts map[string]map[string]any
	if err := json.Unmarshal([]byte(res.Stdout), &mounts); err != nil {
		t.Fatalf("cannot parse vault secrets list output: %v\n%s", err, res.Stdout)
	}
	m, ok := mounts[mountPath+"/"]
	if !ok {
		t.Fatalf("vault secrets list shows no %s/ mount:\n%s", mountPath, res.Stdout)
	}
	t.Logf("vault secrets list -detailed: %s/ type=%v plugin_version=%v running_plugin_version=%v running_sha256=%v",
		mountPath, m["type"], m["plugin_version"], m["running_plugin_version"], m["running_sha256"])
	if m["type"] != pluginName || m["running_plugin_version"] != version || m["running_sha256"] != sha {
		t.Errorf("%s/ runs type=%v version=%v sha256=%v, want %s %s %s",
			mountPath, m["type"], m["running_plugin_version"], m["running_sha256"], pluginName, version, sha)
	}
}
