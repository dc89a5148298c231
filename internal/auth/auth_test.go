package auth

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }

func TestTokenAndSession(t *testing.T) {
	dir := t.TempDir()
	c := &clock{t: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)}
	a, tok, err := Open(dir, c.now)
	if err != nil {
		t.Fatal(err)
	}
	if len(tok) < 32 {
		t.Fatalf("token %q is shorter than 128 bits of hex", tok)
	}
	for _, name := range []string{TokenFile, secretsFile} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", name, fi.Mode().Perm())
		}
	}
	b, _ := os.ReadFile(filepath.Join(dir, secretsFile))
	if strings.Contains(string(b), tok) {
		t.Fatal("secrets file contains the plain token")
	}
	if _, err := a.SignIn("wrong"); err != ErrBadToken {
		t.Fatalf("wrong token: err = %v, want ErrBadToken", err)
	}
	cookie, err := a.SignIn(tok)
	if err != nil {
		t.Fatal(err)
	}
	if !a.Session(cookie) {
		t.Fatal("fresh session not accepted")
	}
	if a.Session(cookie[:len(cookie)-2] + "AA") {
		t.Fatal("tampered cookie accepted")
	}

	// Reopening (a restart) keeps the token and the sessions.
	a2, tok2, err := Open(dir, c.now)
	if err != nil {
		t.Fatal(err)
	}
	if tok2 != tok || !a2.Session(cookie) {
		t.Fatal("restart lost the token or the session")
	}

	// A new token from another Auth (the `token` command) ends the session
	// in the running one.
	time.Sleep(10 * time.Millisecond) // distinct mtime on coarse filesystems
	newTok, err := a2.NewToken()
	if err != nil {
		t.Fatal(err)
	}
	if a.Session(cookie) {
		t.Fatal("session survived a new token")
	}
	if _, err := a.SignIn(tok); err == nil {
		t.Fatal("old token still accepted")
	}
	if _, err := a.SignIn(newTok); err != nil {
		t.Fatal("new token refused")
	}

	c.advance(SessionTTL + time.Second)
	cookie2, _ := a.SignIn(newTok)
	c.advance(SessionTTL + time.Second)
	if a.Session(cookie2) {
		t.Fatal("expired session accepted")
	}
}

func TestLock(t *testing.T) {
	dir := t.TempDir()
	a, tok, err := Open(dir, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	cookie, _ := a.SignIn(tok)
	if err := a.Lock(); err != nil {
		t.Fatal(err)
	}
	if a.Session(cookie) || !a.Locked() {
		t.Fatal("lock did not end the session")
	}
	if _, err := a.SignIn(tok); err == nil {
		t.Fatal("token accepted after lock")
	}
	if _, err := os.Stat(filepath.Join(dir, TokenFile)); !os.IsNotExist(err) {
		t.Fatal("token file kept after lock")
	}
	tok2, err := a.NewToken()
	if err != nil || a.Locked() {
		t.Fatal("new token did not unlock")
	}
	if _, err := a.SignIn(tok2); err != nil {
		t.Fatal(err)
	}
}

func TestThrottle(t *testing.T) {
	c := &clock{t: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)}
	th := NewThrottle(c.now)
	const ip = "192.0.2.7"
	for i := 1; i <= MaxFailures; i++ {
		v := th.Check(ip)
		if !v.Allowed {
			t.Fatalf("attempt %d refused (wait %v) before the lockout", i, v.Wait)
		}
		locked := th.Fail(ip)
		if locked != (i == MaxFailures) {
			t.Fatalf("attempt %d: lockedOut = %v", i, locked)
		}
		if i == FreeFailures+1 {
			if v := th.Check(ip); v.Allowed || v.Wait != time.Second {
				t.Fatalf("after %d failures: %+v, want a 1s wait", i, v)
			}
		}
		c.advance(maxDelay)
	}
	if v := th.Check(ip); v.Allowed || !v.LockedOut {
		t.Fatalf("after %d failures: %+v, want locked out", MaxFailures, v)
	}
	if v := th.Check("192.0.2.8"); !v.Allowed {
		t.Fatal("another address was throttled")
	}
	c.advance(LockoutDuration - maxDelay - time.Second)
	if v := th.Check(ip); !v.LockedOut {
		t.Fatal("lockout ended early")
	}
	c.advance(2 * time.Second)
	if v := th.Check(ip); !v.Allowed {
		t.Fatalf("lockout did not end: %+v", v)
	}
}
