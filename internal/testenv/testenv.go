// Package testenv lets tests ask for a real component (Docker, PostgreSQL,
// Chromium, redis-server): on a laptop without it the test skips and says how
// to get it; under CI=true the same condition fails the test, so CI can never
// go green because a component was missing.
package testenv

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"
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

// FreePort returns a loopback TCP port that was free a moment ago. Another
// process may take it before the test binds it; tests that can listen on
// :0 themselves should.
func FreePort(t testing.TB) int {
	t.Helper()
	return listenPort(t, "127.0.0.1:0")
}

// FreePortAll returns a TCP port that was free on every address a moment
// ago, for what publishes a port on all of the host's addresses (a
// container's published port).
func FreePortAll(t testing.TB) int {
	t.Helper()
	return listenPort(t, ":0")
}

// ClosedPort returns a loopback TCP port that nothing listened on a moment
// ago: a connection to it is refused.
func ClosedPort(t testing.TB) int {
	t.Helper()
	return listenPort(t, "127.0.0.1:0")
}

func listenPort(t testing.TB, addr string) int {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("testenv: listen %s: %v", addr, err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// WaitFor polls cond every few milliseconds until it holds, and fails the
// test naming what it waited for when limit passes first.
func WaitFor(t testing.TB, what string, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", limit, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
