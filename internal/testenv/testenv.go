// Package testenv lets tests ask for a real component (Docker, PostgreSQL,
// Chromium, redis-server): on a laptop without it the test skips and says how
// to get it; under CI=true the same condition fails the test, so CI can never
// go green because a component was missing.
package testenv

import (
	"os"
	"os/exec"
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
