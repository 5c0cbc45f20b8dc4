// The harness: child processes and ports. Every process the suite starts is
// a proc, stopped by its own PID when the test ends, and on Linux sent
// SIGTERM by the kernel if the test binary dies first; plugin processes are
// found (and, in the crash tests, killed) by PID through /proc.

package e2e

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// ---------------------------------------------------------------------------
// Ports

// freePort returns a 127.0.0.1 TCP port nobody listens on right now.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("finding a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// freePortPair returns a port p with p and p+1 both free: a dev server puts
// its cluster listener on the API port + 1, and has no flag to move it.
func freePortPair(t *testing.T) int {
	t.Helper()
	for range 50 {
		a, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("finding a free port: %v", err)
		}
		p := a.Addr().(*net.TCPAddr).Port
		b, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p+1))
		a.Close()
		if err == nil {
			b.Close()
			return p
		}
	}
	t.Fatal("found no two consecutive free ports on 127.0.0.1")
	return 0
}

// ---------------------------------------------------------------------------
// Processes

// proc is a child process whose output goes to a log file. It is stopped by
// its own PID: SIGTERM, then SIGKILL if it has not exited in time.
type proc struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{}
	waitErr error
}

// startProc starts bin with args, appending its output to logPath, and
// registers its stop (and, on failure, the printing of its log) on t.
func startProc(t *testing.T, name, logPath string, env []string, bin string, args ...string) *proc {
	t.Helper()
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(logf, "==== %s: %s %s\n", time.Now().Format(time.RFC3339), bin, strings.Join(args, " "))
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.Dir = filepath.Dir(logPath)
	if err := startOwned(cmd); err != nil {
		logf.Close()
		t.Fatalf("starting %s: %v", name, err)
	}
	p := &proc{name: name, cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		logf.Close()
		close(p.done)
	}()
	t.Logf("started %s (pid %d), log %s", name, cmd.Process.Pid, logPath)
	// Cleanups run last-registered first: stop the process, then print its
	// log (complete by then) if the test failed.
	t.Cleanup(func() { dumpLogOnFailure(t, name, logPath) })
	t.Cleanup(func() { p.stop(t) })
	return p
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop ends the process by its PID and waits for it. It is idempotent.
func (p *proc) stop(t *testing.T) {
	t.Helper()
	if p.exited() {
		return
	}
	pid := p.cmd.Process.Pid
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return
	case <-time.After(stopTimeout):
	}
	t.Logf("%s (pid %d) ignored SIGTERM for %s; killing it", p.name, pid, stopTimeout)
	_ = p.cmd.Process.Kill()
	select {
	case <-p.done:
	case <-time.After(stopTimeout):
		t.Errorf("%s (pid %d) did not exit after SIGKILL", p.name, pid)
	}
}

func dumpLogOnFailure(t *testing.T, name, path string) {
	if !t.Failed() {
		return
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Logf("could not read the log of %s: %v", name, err)
		return
	}
	const max = 48 << 10
	if len(data) > max {
		data = append([]byte("...[earlier lines cut]...\n"), data[len(data)-max:]...)
	}
	t.Logf("---- log of %s (%s) ----\n%s\n---- end of log of %s ----", name, path, data, name)
}

// ---------------------------------------------------------------------------
// Plugin processes, through /proc (Linux)

// procEntry is what /proc says of one process.
type procEntry struct {
	pid, ppid int
	exe       string // the executable, "" when unreadable: a zombie has none
}

// procStat reads the state and the parent of pid from /proc/<pid>/stat,
// "pid (comm) state ppid ...": comm may hold spaces, so it is cut at the
// last ')'.
func procStat(pid int) (state string, ppid int, ok bool) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "", 0, false
	}
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return "", 0, false
	}
	fields := strings.Fields(s[i+1:])
	if len(fields) < 2 {
		return "", 0, false
	}
	if ppid, err = strconv.Atoi(fields[1]); err != nil {
		return "", 0, false
	}
	return fields[0], ppid, true
}

// pidsWhere lists, sorted, the processes for which match holds. Read-only:
// it only looks (no /proc: none).
func pidsWhere(match func(procEntry) bool) []int {
	dirs, _ := os.ReadDir("/proc")
	var out []int
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		_, ppid, ok := procStat(pid)
		if !ok {
			continue
		}
		exe, _ := os.Readlink(filepath.Join("/proc", d.Name(), "exe"))
		if match(procEntry{pid: pid, ppid: ppid, exe: exe}) {
			out = append(out, pid)
		}
	}
	slices.Sort(out)
	return out
}

// pluginChildren lists, sorted, the plugin processes a Vault server started:
// plugins are its direct children running the plugin binary (zombies, whose
// executable cannot be read, are not).
func pluginChildren(vaultPID int) []int {
	return pidsWhere(func(p procEntry) bool { return p.ppid == vaultPID && filepath.Base(p.exe) == pluginName })
}

// processGone reports whether pid has exited (a zombie counts as gone).
func processGone(pid int) bool {
	state, _, ok := procStat(pid)
	return !ok || state == "Z"
}

// killPlugins sends SIGKILL to the given plugin processes (by PID, each
// checked to still be the plugin) and waits until they are gone.
func killPlugins(t *testing.T, pids []int) {
	t.Helper()
	for _, pid := range pids {
		if exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); err != nil || filepath.Base(exe) != pluginName {
			continue // already gone, and the PID may be someone else's now
		}
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	waitFor(t, stopTimeout, fmt.Sprintf("plugin processes %v to exit", pids), func() (bool, error) {
		for _, pid := range pids {
			if !processGone(pid) {
				return false, fmt.Errorf("pid %d still runs", pid)
			}
		}
		return true, nil
	})
}
