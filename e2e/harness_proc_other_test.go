//go:build !linux

package e2e

import "os/exec"

// startOwned starts cmd. Only Linux has a parent-death signal: elsewhere a
// test binary that dies before its cleanups (a test timeout) leaves its
// servers running.
func startOwned(cmd *exec.Cmd) error { return cmd.Start() }
