// Package testenv lets tests ask for a real component (Docker, PostgreSQL,
// Chromium, redis-server): on a laptop without it the test skips and says how
// to get it; under CI=true the same condition fails the test, so CI can never
// go green because a component was missing.
package testenv

import (
	"bytes"
	"os"
	"os/exec"
	"sync"
	"testing"
)

// CI reports whether the tests run under CI (CI=true).
func CI() bool { return os.Getenv("CI") == "true" }

// Missing skips the test, or fails it under CI, because component is not
// available; how tells the reader how to get it.
func Missing(t testing.TB, component, how string) {
	t.Helper()
	if CI() {
		t.Fatalf("%s is required under CI=true but is missing: %s", component, how)
	}
	t.Skipf("%s is missing (%s); skipping", component, how)
}

// LookPath returns the path of an executable or reports it Missing.
func LookPath(t testing.TB, name, how string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Missing(t, name, how)
	}
	return p
}

// Buffer is a bytes.Buffer that several goroutines may write while a test
// reads it: the console of a program run in-process, a server's log.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
