package auth

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// childEnv makes the test binary act as a separate carto-setup process on
// a state directory: "endall DIR", "token DIR" or "list DIR".
const childEnv = "CARTO_SETUP_AUTH_CHILD"

// TestChildProcess is the body of the child process; it does nothing in a
// normal run.
func TestChildProcess(t *testing.T) {
	cmd, dir, ok := strings.Cut(os.Getenv(childEnv), " ")
	if !ok {
		t.Skip("run only as a child process")
	}
	a, _, err := Open(dir, time.Now)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	switch cmd {
	case "endall":
		n, err := a.EndAll()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		fmt.Printf("ended %d\n", n)
	case "token":
		if _, err := a.NewToken(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
	case "list":
		s, err := a.Sessions()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		json.NewEncoder(os.Stdout).Encode(s)
	}
	os.Exit(0)
}

// runChild runs the test binary as another process doing cmd on dir.
func runChild(t *testing.T, cmd, dir string) string {
	t.Helper()
	c := exec.Command(os.Args[0], "-test.run=^TestChildProcess$")
	c.Env = append(os.Environ(), childEnv+"="+cmd+" "+dir)
	out, err := c.Output()
	if err != nil {
		t.Fatalf("child %s: %v", cmd, err)
	}
	return string(out)
}

func TestSignOutRevokesTheSession(t *testing.T) {
	t.Parallel()
	c := &clock{t: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)}
	a, tok, err := Open(t.TempDir(), c.now)
	if err != nil {
		t.Fatal(err)
	}
	mine, err := a.SignInFrom(tok, "192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	other, _ := a.SignInFrom(tok, "192.0.2.2")
	if !a.Session(mine) || !a.Session(other) {
		t.Fatal("fresh sessions refused")
	}
	if err := a.SignOut(mine); err != nil {
		t.Fatal(err)
	}
	// The cookie is still correctly signed and unexpired: only the server
	// side record makes it fail.
	s, _ := a.load()
	if _, ok := verifyCookie(mine, s, c.now()); !ok {
		t.Fatal("test premise: the signed-out cookie should still verify")
	}
	if a.Session(mine) {
		t.Fatal("signed-out cookie still works")
	}
	if !a.Session(other) {
		t.Fatal("signing out one browser ended another's session")
	}
	if err := a.SignOut(mine); err != nil {
		t.Fatalf("second sign-out: %v", err)
	}
	if err := a.SignOut("garbage"); err != nil {
		t.Fatalf("sign-out of a bogus cookie: %v", err)
	}
	// A restart keeps the revocation.
	a2, _, err := Open(a.dir, c.now)
	if err != nil {
		t.Fatal(err)
	}
	if a2.Session(mine) || !a2.Session(other) {
		t.Fatal("restart changed which sessions are live")
	}
}

// TestSessionsFromAnotherProcess lists and ends the sessions of a "running
// wizard" (this process) from separate processes, as `carto-setup
// sessions` does.
func TestSessionsFromAnotherProcess(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a, tok, err := Open(dir, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	c1, _ := a.SignInFrom(tok, "192.0.2.1")
	c2, _ := a.SignInFrom(tok, "198.51.100.7")

	var listed []SessionInfo
	if err := json.Unmarshal([]byte(runChild(t, "list", dir)), &listed); err != nil {
		t.Fatal(err)
	}
	if len(listed) != 2 || listed[0].Remote != "192.0.2.1" || listed[1].Remote != "198.51.100.7" || len(listed[0].ID) != shortIDLen {
		t.Fatalf("listed %+v", listed)
	}
	if time.Until(listed[0].Expires) > SessionTTL || time.Until(listed[0].Expires) < SessionTTL-time.Minute {
		t.Fatalf("expiry %v is not about SessionTTL away", listed[0].Expires)
	}
	b, _ := os.ReadFile(filepath.Join(dir, secretsFile))
	for _, c := range []string{c1, c2} {
		id, _, _ := strings.Cut(c, ".")
		if strings.Contains(string(b), id) {
			t.Fatal("the secrets file holds a cookie")
		}
	}

	if out := runChild(t, "endall", dir); out != "ended 2\n" {
		t.Fatalf("end-all printed %q", out)
	}
	if a.Session(c1) || a.Session(c2) {
		t.Fatal("the running process still accepts sessions ended by another process")
	}
	if s, _ := a.Sessions(); len(s) != 0 {
		t.Fatalf("sessions after end-all: %+v", s)
	}
	// The token still works: the admin signs in again.
	c3, err := a.SignInFrom(tok, "192.0.2.1")
	if err != nil || !a.Session(c3) {
		t.Fatalf("sign-in after end-all: %v", err)
	}
}

func TestEndSession(t *testing.T) {
	t.Parallel()
	a, tok, err := Open(t.TempDir(), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	c1, _ := a.SignInFrom(tok, "192.0.2.1")
	c2, _ := a.SignInFrom(tok, "192.0.2.2")
	list, _ := a.Sessions()
	if err := a.EndSession(list[0].ID[:4]); err == nil || !strings.Contains(err.Error(), "at least 12") {
		t.Fatalf("short ID: %v", err)
	}
	if err := a.EndSession("000000000000"); !errors.Is(err, ErrNoSession) {
		t.Fatalf("unknown ID: %v", err)
	}
	if err := a.EndSession(strings.ToUpper(list[0].ID)); err != nil {
		t.Fatal(err)
	}
	if a.Session(c1) || !a.Session(c2) {
		t.Fatal("EndSession ended the wrong session")
	}
}

func TestSessionsExpireAndStayBounded(t *testing.T) {
	t.Parallel()
	c := &clock{t: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)}
	a, tok, err := Open(t.TempDir(), c.now)
	if err != nil {
		t.Fatal(err)
	}
	first, _ := a.SignIn(tok)
	var last string
	for range MaxSessions + 5 {
		last, _ = a.SignIn(tok)
	}
	list, _ := a.Sessions()
	if len(list) != MaxSessions {
		t.Fatalf("%d sessions kept, want %d", len(list), MaxSessions)
	}
	if a.Session(first) || !a.Session(last) {
		t.Fatal("beyond MaxSessions the oldest should end, not the newest")
	}
	c.advance(SessionTTL)
	if list, _ := a.Sessions(); len(list) != 0 || a.Session(last) {
		t.Fatalf("expired sessions listed or accepted: %+v", list)
	}
	if _, err := a.SignIn(tok); err != nil {
		t.Fatal(err)
	}
	s, _ := a.load()
	if len(s.Sessions) != 1 {
		t.Fatalf("expired sessions not pruned from the file: %d kept", len(s.Sessions))
	}
}

// TestEndAllWinsOverConcurrentSignIns races sign-ins in one Auth against
// EndAll in another (two descriptors of the lock file, as two processes
// have): every session that existed before EndAll returned must be dead,
// which fails if a sign-in's read-modify-write can rewrite the list EndAll
// just emptied.
func TestEndAllWinsOverConcurrentSignIns(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	wizard, tok, err := Open(dir, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	cli, _, err := Open(dir, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	for round := range 20 {
		var (
			mu      sync.Mutex
			cookies []string
			wg      sync.WaitGroup
			stop    = make(chan struct{})
		)
		for range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					c, err := wizard.SignIn(tok)
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					cookies = append(cookies, c)
					mu.Unlock()
				}
			}()
		}
		time.Sleep(2 * time.Millisecond)
		mu.Lock()
		before := len(cookies)
		mu.Unlock()
		if _, err := cli.EndAll(); err != nil {
			t.Fatal(err)
		}
		close(stop)
		wg.Wait()
		for i, c := range cookies[:before] {
			if wizard.Session(c) {
				t.Fatalf("round %d: session %d, signed in before end-all, survived it", round, i)
			}
		}
	}
}

func TestNewTokenLiftsLockouts(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a, _, err := Open(dir, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	th := a.NewThrottle()
	const nat = "203.0.113.9"
	for range MaxFailures {
		th.Fail(nat)
	}
	if v := th.Check(nat); !v.LockedOut {
		t.Fatalf("not locked out: %+v", v)
	}
	if got := th.LockedOut(); len(got) != 1 || got[0] != nat {
		t.Fatalf("LockedOut = %v", got)
	}
	// Unrelated writes (a sign-in elsewhere, a sign-out) do not lift it.
	if _, err := a.EndAll(); err != nil {
		t.Fatal(err)
	}
	if v := th.Check(nat); !v.LockedOut {
		t.Fatal("ending sessions lifted the lockout")
	}
	// `carto-setup token` in another process does.
	runChild(t, "token", dir)
	if v := th.Check(nat); !v.Allowed {
		t.Fatalf("lockout survived a new token from another process: %+v", v)
	}
	if got := th.LockedOut(); len(got) != 0 {
		t.Fatalf("LockedOut after a new token = %v", got)
	}
}
