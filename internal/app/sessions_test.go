package app_test

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/carto-setup/carto-setup/internal/auth"
	"github.com/carto-setup/carto-setup/internal/e2e"
)

// browser is an HTTP client as a browser would be for the wizard: it
// accepts the self-signed certificate and does not follow redirects, so a
// test sees where it is sent.
func browser() *http.Client {
	return &http.Client{
		Transport:     &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, DisableKeepAlives: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       30 * time.Second,
	}
}

// signIn signs in with the token from the console's link and returns the
// session cookie.
func signIn(t *testing.T, a *e2e.App, token string) *http.Cookie {
	t.Helper()
	res, err := browser().Get(a.BaseURL + "/signin?token=" + token)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	for _, c := range res.Cookies() {
		if c.Name == "__Host-carto-setup" && c.Value != "" {
			return c
		}
	}
	t.Fatalf("sign-in: %d, no session cookie", res.StatusCode)
	return nil
}

// opens reports whether cookie opens a wizard page.
func opens(t *testing.T, a *e2e.App, cookie *http.Cookie) bool {
	t.Helper()
	req, _ := http.NewRequest("GET", a.BaseURL+"/steps/preflight", nil)
	req.AddCookie(cookie)
	res, err := browser().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode == http.StatusOK
}

func tokenOf(t *testing.T, a *e2e.App) string {
	t.Helper()
	u, err := url.Parse(a.SignInURL)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query().Get("token")
}

func startWizard(t *testing.T) *e2e.App {
	t.Helper()
	return e2e.StartApp(t, e2e.Options{Args: []string{"--http-addr", "127.0.0.1:0"}})
}

// TestSessionsCommandEndsARunningWizardsSessions: `carto-setup sessions`
// lists the sessions of a running wizard with where they signed in from,
// --end ends one (its cookie is refused from the next request on) and
// --end-all the rest, while the token still signs in.
func TestSessionsCommandEndsARunningWizardsSessions(t *testing.T) {
	t.Parallel()
	a := startWizard(t)
	tok := tokenOf(t, a)
	first, second, third := signIn(t, a, tok), signIn(t, a, tok), signIn(t, a, tok)
	sessions := func(args ...string) (int, string, string) {
		return runApp(t, append([]string{"sessions", "--dir", a.ReleaseDir, "--state-dir", a.StateDir}, args...)...)
	}

	code, stdout, stderr := sessions("--json")
	if code != 0 {
		t.Fatalf("sessions --json: exit %d: %s", code, stderr)
	}
	var out struct {
		Sessions []auth.SessionInfo `json:"sessions"`
	}
	if err := json.Unmarshal([]byte(stdout), &out); err != nil {
		t.Fatalf("sessions --json: %v\n%s", err, stdout)
	}
	if len(out.Sessions) != 3 {
		t.Fatalf("%d sessions listed, want 3:\n%s", len(out.Sessions), stdout)
	}
	for _, s := range out.Sessions {
		if s.Remote != "127.0.0.1" || len(s.ID) != 12 || !s.Expires.After(s.Created) {
			t.Errorf("session %+v", s)
		}
		if strings.Contains(first.Value+second.Value+third.Value, s.ID) {
			t.Errorf("the listed ID %s is part of a cookie", s.ID)
		}
	}
	code, table, _ := sessions()
	if code != 0 || !strings.Contains(table, "SIGNED IN") || !strings.Contains(table, out.Sessions[0].ID) {
		t.Errorf("sessions table: exit %d\n%s", code, table)
	}

	// The list is oldest first: the first sign-in's session.
	code, stdout, stderr = sessions("--end", out.Sessions[0].ID)
	if code != 0 || !strings.Contains(stdout, "Ended 1 session") {
		t.Fatalf("sessions --end: exit %d\n%s%s", code, stdout, stderr)
	}
	if opens(t, a, first) {
		t.Error("the running wizard still accepts the ended session's cookie")
	}
	if !opens(t, a, second) || !opens(t, a, third) {
		t.Error("--end ended other sessions too")
	}
	if code, _, stderr := sessions("--end", out.Sessions[0].ID); code != 1 || !strings.Contains(stderr, "no live session") {
		t.Errorf("ending it again: exit %d: %s", code, stderr)
	}

	code, stdout, _ = sessions("--end-all", "--json")
	if code != 0 || !strings.Contains(stdout, `"ended": 2`) || !strings.Contains(stdout, `"sessions": []`) {
		t.Fatalf("sessions --end-all --json: exit %d\n%s", code, stdout)
	}
	if opens(t, a, second) || opens(t, a, third) {
		t.Error("the running wizard still accepts a cookie after --end-all")
	}
	if !opens(t, a, signIn(t, a, tok)) {
		t.Error("the token no longer signs in after --end-all")
	}
	if code, _, stderr := sessions("--end-all", "--end", "abc"); code != 2 || !strings.Contains(stderr, "not both") {
		t.Errorf("--end-all with --end: exit %d: %s", code, stderr)
	}
}

// TestTokenLiftsALockoutInARunningWizard: an admin behind the same address
// as an attacker who got it locked out runs `carto-setup token` on the VM
// and signs in at once with the new token, without restarting the wizard.
func TestTokenLiftsALockoutInARunningWizard(t *testing.T) {
	t.Parallel()
	a := startWizard(t)
	locked := false
	for i := 0; i < 2*auth.MaxFailures && !locked; i++ {
		res, err := browser().PostForm(a.BaseURL+"/signin", url.Values{"token": {fmt.Sprintf("wrong-%d", i)}})
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		a.Clock.Advance(time.Minute) // past the growing delay between tries
		locked = strings.Contains(a.Stderr.String(), "sign-in locked out")
	}
	if !locked {
		t.Fatalf("no lockout after %d wrong tokens:\n%s", 2*auth.MaxFailures, a.Stderr)
	}
	res, err := browser().Get(a.BaseURL + "/signin?token=" + tokenOf(t, a))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("the right token during the lockout: %d, want 429", res.StatusCode)
	}

	code, stdout, stderr := runApp(t, "token", "--dir", a.ReleaseDir, "--state-dir", a.StateDir, "--listen", "127.0.0.1:8443")
	if code != 0 || !strings.Contains(stdout, "sign-in lockouts are lifted") {
		t.Fatalf("token: exit %d\n%s%s", code, stdout, stderr)
	}
	tok, err := os.ReadFile(filepath.Join(a.StateDir, auth.TokenFile))
	if err != nil {
		t.Fatal(err)
	}
	if !opens(t, a, signIn(t, a, strings.TrimSpace(string(tok)))) {
		t.Error("the new token does not sign in from the locked-out address")
	}
}

// TestHandshakeFloodIsSummarised: hundreds of failed TLS handshakes on the
// running wizard write no line each; at shutdown one summary counts them.
func TestHandshakeFloodIsSummarised(t *testing.T) {
	t.Parallel()
	a := startWizard(t)
	addr := strings.TrimPrefix(a.BaseURL, "https://")
	const n = 300
	for i := range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 {
			c.Write([]byte("garbage\r\n\r\n")) // not TLS at all
		} else {
			// A TLS client that refuses the wizard's certificate.
			tc := tls.Client(c, &tls.Config{ServerName: "127.0.0.1"})
			tc.SetDeadline(time.Now().Add(10 * time.Second))
			if tc.Handshake() == nil {
				t.Fatal("a verifying client accepted the self-signed certificate")
			}
		}
		c.Close()
	}
	time.Sleep(200 * time.Millisecond) // let the server log the last ones
	if got := strings.Count(a.Stderr.String(), "TLS handshake error"); got > 0 {
		t.Fatalf("%d handshake failures written one by one:\n%.2000s", got, a.Stderr)
	}
	a.Stop(t)
	var summary string
	for _, l := range strings.Split(a.Stderr.String(), "\n") {
		if strings.Contains(l, "(summary)") {
			if summary != "" {
				t.Errorf("more than one summary at shutdown:\n%s\n%s", summary, l)
			}
			summary = l
		}
	}
	if !strings.Contains(summary, fmt.Sprintf("tls_handshake_failed=%d", n)) || !strings.Contains(summary, "127.0.0.1") {
		t.Fatalf("summary %q, want tls_handshake_failed=%d from 127.0.0.1\n%s", summary, n, a.Stderr)
	}
	if lines := strings.Count(a.Stderr.String(), "\n"); lines > 30 {
		t.Errorf("%d console lines for %d failed handshakes:\n%s", lines, n, a.Stderr)
	}
}
