package e2e

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// spawnRequest is a command for the spawner to start.
type spawnRequest struct {
	cmd  *exec.Cmd
	done chan error
}

var spawns = make(chan spawnRequest)

func init() { go spawner() }

// spawner starts every proc from one goroutine locked to its own OS thread
// for the life of the test binary. Linux sends a child its parent-death
// signal when the thread that started it exits, not when the process does,
// and the Go runtime may retire an idle thread; this thread never exits
// while the binary runs.
func spawner() {
	runtime.LockOSThread()
	for r := range spawns {
		r.done <- r.cmd.Start()
	}
}

// startOwned starts cmd so that it gets SIGTERM if the test binary dies
// before stopping it (a test timeout's panic runs no cleanup): a server
// outlives no test run, and a Vault stopped this way stops its plugins.
func startOwned(cmd *exec.Cmd) error {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	r := spawnRequest{cmd: cmd, done: make(chan error, 1)}
	spawns <- r
	return <-r.done
}

// orphanHelperDir, set in the environment, makes TestServersDieWithTheSuite
// the helper binary: it starts a proc logging into that directory, prints
// the proc's PID and waits to be killed.
const orphanHelperDir = "E2E_ORPHAN_HELPER_DIR"

// TestServersDieWithTheSuite kills a test binary with SIGKILL while its
// proc runs, as a test timeout's panic ends the binary before any cleanup,
// and requires the proc to end with it.
func TestServersDieWithTheSuite(t *testing.T) {
	if dir := os.Getenv(orphanHelperDir); dir != "" {
		p := startProc(t, "sleep", filepath.Join(dir, "sleep.log"), nil, "sleep", "600")
		fmt.Printf("orphan-helper pid %d\n", p.cmd.Process.Pid)
		_, _ = io.Copy(io.Discard, os.Stdin) // until the parent kills this binary
		return
	}
	helper := exec.Command(os.Args[0], "-test.run=^TestServersDieWithTheSuite$", "-test.count=1")
	helper.Env = append(os.Environ(), orphanHelperDir+"="+t.TempDir())
	stdin, err := helper.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	out, err := helper.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := helper.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = helper.Process.Kill(); _ = helper.Wait() })
	pid := readOrphanPID(t, out)
	// Should the proc survive, the test stops it itself.
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })

	if err := helper.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = helper.Wait()
	waitFor(t, stopTimeout, fmt.Sprintf("the helper's sleep (pid %d) to end with the helper", pid), func() (bool, error) {
		return !running(pid), fmt.Errorf("pid %d still runs", pid)
	})
}

// readOrphanPID is the PID the helper prints once its proc has started.
func readOrphanPID(t *testing.T, out io.Reader) int {
	t.Helper()
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "orphan-helper pid "); ok {
			pid, err := strconv.Atoi(rest)
			if err != nil {
				t.Fatalf("helper printed %q", sc.Text())
			}
			return pid
		}
	}
	t.Fatalf("the helper ended without printing its proc's PID (%v)", sc.Err())
	return 0
}

// running says whether pid is a live process: not gone, and not a zombie
// waiting for a parent that does not reap it.
func running(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the command name, which is in parentheses.
	_, after, ok := strings.Cut(string(stat), ") ")
	return ok && !strings.HasPrefix(after, "Z")
}
