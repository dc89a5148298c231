package server

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/carto-setup/carto-setup/internal/auth"
	"github.com/carto-setup/carto-setup/internal/logsummary"
	"github.com/carto-setup/carto-setup/internal/testenv"
)

// getWith sends a GET with cookie (nil for none) and returns the status and
// the redirect target.
func (f *fixture) getWith(t *testing.T, path string, cookie *http.Cookie) (int, string) {
	t.Helper()
	req := httptest.NewRequest("GET", path, nil)
	if cookie != nil {
		req.AddCookie(cookie)
	}
	res := f.do(t, req)
	return res.StatusCode, res.Header.Get("Location")
}

// TestSignOutEndsTheSessionOnTheServer: after sign-out, the very same
// cookie (as an attacker who copied it would replay it) no longer opens a
// page or passes a POST, while another browser's session stays signed in.
func TestSignOutEndsTheSessionOnTheServer(t *testing.T) {
	f := newFixture(t)
	otherValue, err := f.deps.Auth.SignIn(f.token)
	if err != nil {
		t.Fatal(err)
	}
	other := &http.Cookie{Name: SessionCookie, Value: otherValue}
	if code, loc := f.getWith(t, "/steps/preflight", f.cookie); code != http.StatusOK {
		t.Fatalf("before sign-out: %d to %q", code, loc)
	}

	req := httptest.NewRequest("POST", "/signout", nil)
	req.AddCookie(f.cookie)
	res := f.do(t, req)
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/signin" {
		t.Fatalf("sign-out: %d to %q", res.StatusCode, res.Header.Get("Location"))
	}
	cleared := false
	for _, c := range res.Cookies() {
		cleared = cleared || (c.Name == SessionCookie && c.MaxAge < 0)
	}
	if !cleared {
		t.Error("sign-out did not clear the cookie in the browser")
	}

	if code, loc := f.getWith(t, "/steps/preflight", f.cookie); code != http.StatusSeeOther || loc != "/signin" {
		t.Errorf("the signed-out cookie still opens a page: %d to %q", code, loc)
	}
	req = httptest.NewRequest("POST", "/steps/preflight", strings.NewReader(""))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(f.cookie)
	if res := f.do(t, req); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("the signed-out cookie still posts: %d", res.StatusCode)
	}
	if f.deps.Auth.Session(f.cookie.Value) {
		t.Error("auth still lists the signed-out session")
	}
	if code, loc := f.getWith(t, "/steps/preflight", other); code != http.StatusOK {
		t.Errorf("another browser's session ended too: %d to %q", code, loc)
	}
	list, err := f.deps.Auth.Sessions()
	if err != nil || len(list) != 1 {
		t.Errorf("sessions after sign-out = %v, %v; want the other one only", list, err)
	}
}

// TestSignInRecordsTheClientAddress: `carto-setup sessions` shows where a
// session signed in from.
func TestSignInRecordsTheClientAddress(t *testing.T) {
	f := newFixture(t)
	req := httptest.NewRequest("GET", "/signin?token="+f.token, nil)
	req.RemoteAddr = "198.51.100.7:51234"
	if res := f.do(t, req); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in: %d", res.StatusCode)
	}
	list, err := f.deps.Auth.Sessions()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, s := range list {
		found = found || s.Remote == "198.51.100.7"
	}
	if !found {
		t.Errorf("no session from 198.51.100.7 in %+v", list)
	}
}

// stepClock is a clock a test moves by hand.
type stepClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *stepClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *stepClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// TestRefusedRequestsAreSummarised: a scan of foreign Host headers,
// cross-origin posts, requests without a session and wrong tokens from many
// addresses writes no line per request; one summary counts them all. A
// lockout is still written at once.
func TestRefusedRequestsAreSummarised(t *testing.T) {
	f := newFixture(t)
	var out testenv.Buffer
	f.deps.Log = slog.New(slog.NewTextHandler(&out, nil))
	clk := &stepClock{t: time.Now()}
	sum := logsummary.New(f.deps.Log, logsummary.Config{Interval: time.Minute, Now: clk.now})
	f.deps.Refusals = sum
	f.deps.Throttle = auth.NewThrottle(clk.now)
	f.router = routes(f.deps)

	const hosts, origins, anonymous, wrong = 60, 25, 40, 30
	for i := range hosts {
		req := httptest.NewRequest("GET", "/steps/preflight", nil)
		req.Host = fmt.Sprintf("rebind-%d.evil.example", i)
		req.RemoteAddr = fmt.Sprintf("203.0.113.%d:4000", i%7)
		if res := f.do(t, req); res.StatusCode != http.StatusMisdirectedRequest {
			t.Fatalf("foreign Host: %d", res.StatusCode)
		}
	}
	for range origins {
		req := httptest.NewRequest("POST", "/signin", strings.NewReader("token=x"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", "https://evil.example")
		if res := f.do(t, req); res.StatusCode != http.StatusForbidden {
			t.Fatalf("cross-origin: %d", res.StatusCode)
		}
	}
	for i := range anonymous {
		req := httptest.NewRequest("GET", fmt.Sprintf("/jobs/%d", i), nil)
		if res := f.do(t, req); res.StatusCode != http.StatusSeeOther {
			t.Fatalf("no session: %d", res.StatusCode)
		}
	}
	for i := range wrong {
		form := url.Values{"token": {fmt.Sprintf("guess-%d", i)}}
		req := httptest.NewRequest("POST", "/signin", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.RemoteAddr = fmt.Sprintf("192.0.2.%d:5000", i)
		if res := f.do(t, req); res.StatusCode != http.StatusUnauthorized {
			t.Fatalf("wrong token: %d", res.StatusCode)
		}
	}
	if got := strings.TrimSpace(out.String()); got != "" {
		t.Fatalf("refused requests were logged one by one:\n%.2000s", got)
	}

	// One address guessing until it is locked out: the lockout is
	// written at once, the guesses before it are counted.
	for i := range auth.MaxFailures {
		form := url.Values{"token": {fmt.Sprintf("again-%d", i)}}
		req := httptest.NewRequest("POST", "/signin", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.RemoteAddr = "198.51.100.99:6000"
		f.do(t, req)
		clk.add(time.Minute) // past each growing delay
	}
	if !strings.Contains(out.String(), "sign-in locked out after repeated wrong tokens") {
		t.Fatalf("the lockout is not in the log:\n%s", &out)
	}

	if !sum.Flush() {
		t.Fatal("no summary after the interval")
	}
	var summary []string
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		if strings.Contains(l, "(summary)") {
			summary = append(summary, l)
		}
	}
	if len(summary) != 1 {
		t.Fatalf("%d summary lines, want 1:\n%s", len(summary), &out)
	}
	for _, want := range []string{
		fmt.Sprintf("refused_host=%d", hosts),
		fmt.Sprintf("refused_cross-origin=%d", origins),
		fmt.Sprintf("no_session=%d", anonymous),
		fmt.Sprintf("wrong_token=%d", wrong+auth.MaxFailures-1),
	} {
		if !strings.Contains(summary[0], want) {
			t.Errorf("summary lacks %s:\n%s", want, summary[0])
		}
	}
	if n := strings.Count(out.String(), "\n"); n > 3 {
		t.Errorf("%d log lines for %d refused requests, want the lockout, the summary and little else:\n%s", n, hosts+origins+anonymous+wrong, &out)
	}
	if strings.Contains(out.String(), "guess-") || strings.Contains(out.String(), "again-") {
		t.Error("a typed token reached the log")
	}
}
