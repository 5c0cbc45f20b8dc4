package main

import (
	"runtime/debug"
	"testing"
)

// The plugin collects at 50 % unless GOGC says otherwise.
func TestGCPercent(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	for _, c := range []struct {
		env  map[string]string
		want int
	}{
		{map[string]string{}, gcPercent},
		{map[string]string{"GOGC": "100"}, 100},
		{map[string]string{"GOGC": "off"}, 100}, // the runtime applied it; left alone here
	} {
		debug.SetGCPercent(100)
		setGCPercent(func(k string) (string, bool) { v, ok := c.env[k]; return v, ok })
		if got := debug.SetGCPercent(100); got != c.want {
			t.Errorf("environment %v: GC percent %d, want %d", c.env, got, c.want)
		}
	}
}
