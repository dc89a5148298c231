package server

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/carto-setup/carto-setup/internal/auth"
	"github.com/carto-setup/carto-setup/internal/check"
	"github.com/carto-setup/carto-setup/internal/preflight"
	"github.com/carto-setup/carto-setup/internal/steps"
	"github.com/carto-setup/carto-setup/internal/wizard"
	"github.com/carto-setup/carto-setup/static"
)

type fixture struct {
	deps   *Deps
	steps  steps.Deps // what deps.Steps was built with
	router *chi.Mux
	token  string
	cookie *http.Cookie
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	dir := t.TempDir()
	a, tok, err := auth.Open(dir, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(testLogWriter{t}, nil))
	store := wizard.NewFileStore(filepath.Join(dir, "state.json"), time.Now)
	d := &Deps{
		Log: log, Auth: a, Throttle: auth.NewThrottle(time.Now),
		Store: store, Now: time.Now,
		HostNames: []string{"localhost", "127.0.0.1", "wizard.internal"}, SelfSigned: true,
		Installer: newFakeInstaller(),
	}
	sd := steps.Deps{
		Log:       log,
		Preflight: steps.PreflightFunc(func(context.Context, preflight.Config) []check.Result { return fakePreflight }),
		Domain:    fakeDomain{},
	}
	d.Steps = steps.New(sd, store)
	value, err := a.SignIn(tok)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{deps: d, steps: sd, router: routes(d), token: tok, cookie: &http.Cookie{Name: SessionCookie, Value: value}}
}

// setSteps changes the steps' dependencies and rebuilds the handler.
func (f *fixture) setSteps(change func(*steps.Deps)) {
	change(&f.steps)
	f.deps.Steps = steps.New(f.steps, f.deps.Store)
	f.router = routes(f.deps)
}

func (f *fixture) do(t *testing.T, req *http.Request) *http.Response {
	t.Helper()
	if req.Host == "" || req.Host == "example.com" {
		req.Host = "127.0.0.1:8443"
	}
	rec := httptest.NewRecorder()
	f.router.ServeHTTP(rec, req)
	return rec.Result()
}

// public are the only routes that answer without a session.
var public = map[string]bool{"/healthz": true, "/signin": true, "/favicon.ico": true, static.Prefix + "*": true}

// TestEveryRouteNeedsASession walks the router and sends every registered
// route a request without a session: all but the public ones refuse.
func TestEveryRouteNeedsASession(t *testing.T) {
	f := newFixture(t)
	n := 0
	err := chi.Walk(f.router, func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		n++
		path := strings.NewReplacer("{step}", "preflight", "{id}", "job1", "*", "x").Replace(route)
		req := httptest.NewRequest(method, path, strings.NewReader(""))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		res := f.do(t, req)
		if public[route] {
			return nil
		}
		switch {
		case (method == http.MethodGet || method == http.MethodHead) && res.StatusCode == http.StatusSeeOther && res.Header.Get("Location") == "/signin":
		case method != http.MethodGet && method != http.MethodHead && res.StatusCode == http.StatusUnauthorized:
		default:
			t.Errorf("%s %s without a session: %d %s", method, route, res.StatusCode, res.Header.Get("Location"))
		}
		// The same request with a session is not refused for lack of one.
		req2 := httptest.NewRequest(method, path, strings.NewReader(""))
		req2.AddCookie(f.cookie)
		res2 := f.do(t, req2)
		if res2.StatusCode == http.StatusUnauthorized || (route != "/signout" && res2.Header.Get("Location") == "/signin") {
			t.Errorf("%s %s with a session still refused: %d", method, route, res2.StatusCode)
		}
		if route == "/signout" { // it ended the session: sign in again
			value, err := f.deps.Auth.SignIn(f.token)
			if err != nil {
				t.Fatal(err)
			}
			f.cookie = &http.Cookie{Name: SessionCookie, Value: value}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 6 {
		t.Fatalf("walked only %d routes", n)
	}
}

func TestPublicRoutes(t *testing.T) {
	f := newFixture(t)
	if res := f.do(t, httptest.NewRequest("GET", "/healthz", nil)); res.StatusCode != 200 {
		t.Errorf("/healthz: %d", res.StatusCode)
	}
	if res := f.do(t, httptest.NewRequest("GET", static.URL("css/app.css"), nil)); res.StatusCode != 200 || !strings.Contains(res.Header.Get("Cache-Control"), "immutable") {
		t.Errorf("static asset: %d %q", res.StatusCode, res.Header.Get("Cache-Control"))
	}
	if res := f.do(t, httptest.NewRequest("GET", "/static/000000000000/css/app.css", nil)); res.StatusCode != 404 {
		t.Errorf("static asset with a stale hash: %d, want 404", res.StatusCode)
	}
}

func TestSignInFlow(t *testing.T) {
	f := newFixture(t)
	res := f.do(t, httptest.NewRequest("GET", "/signin?token="+f.token, nil))
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/" {
		t.Fatalf("sign-in link: %d to %q", res.StatusCode, res.Header.Get("Location"))
	}
	var c *http.Cookie
	for _, x := range res.Cookies() {
		if x.Name == SessionCookie {
			c = x
		}
	}
	if c == nil || !c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" || c.Domain != "" {
		t.Fatalf("session cookie = %+v", c)
	}
	form := url.Values{"token": {"not-the-token"}}
	req := httptest.NewRequest("POST", "/signin", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	res = f.do(t, req)
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusUnauthorized || !strings.Contains(string(body), "That token is not right") {
		t.Fatalf("wrong token: %d", res.StatusCode)
	}
	if strings.Contains(string(body), f.token) {
		t.Fatal("the page echoes the token")
	}
}

func TestCrossOriginPostRefused(t *testing.T) {
	f := newFixture(t)
	form := url.Values{"token": {f.token}}
	for _, h := range []map[string]string{
		{"Origin": "https://evil.example"},
		{"Sec-Fetch-Site": "cross-site"},
	} {
		req := httptest.NewRequest("POST", "/signin", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for k, v := range h {
			req.Header.Set(k, v)
		}
		if res := f.do(t, req); res.StatusCode != http.StatusForbidden {
			t.Errorf("cross-origin POST with %v: %d, want 403", h, res.StatusCode)
		}
	}
	// A same-origin POST still works.
	req := httptest.NewRequest("POST", "/signin", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "https://127.0.0.1:8443")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	if res := f.do(t, req); res.StatusCode != http.StatusSeeOther {
		t.Errorf("same-origin POST: %d, want 303", res.StatusCode)
	}
}

func TestForeignHostRefused(t *testing.T) {
	f := newFixture(t)
	for _, host := range []string{"evil.example", "evil.example:8443", "127.0.0.2:8443", ""} {
		req := httptest.NewRequest("GET", "/healthz", nil)
		req.Host = host
		if host == "" {
			req.Host = " "
		}
		if res := f.do(t, req); res.StatusCode != http.StatusMisdirectedRequest {
			t.Errorf("Host %q: %d, want 421", host, res.StatusCode)
		}
	}
	for _, host := range []string{"localhost:8443", "WIZARD.internal", "127.0.0.1"} {
		req := httptest.NewRequest("GET", "/healthz", nil)
		req.Host = host
		if res := f.do(t, req); res.StatusCode != 200 {
			t.Errorf("Host %q: %d, want 200", host, res.StatusCode)
		}
	}
	// The configured domain is allowed once it is saved.
	f.deps.Store.Update(func(st *wizard.State) error { st.Domain.Domain = "carto.example.com"; return nil })
	req := httptest.NewRequest("GET", "/healthz", nil)
	req.Host = "carto.example.com:8443"
	if res := f.do(t, req); res.StatusCode != 200 {
		t.Errorf("configured domain: %d", res.StatusCode)
	}
}

func TestSecurityHeadersOnEveryHTMLResponse(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct {
		path    string
		session bool
	}{{"/signin", false}, {"/steps/preflight", true}, {"/steps/nope", true}} {
		req := httptest.NewRequest("GET", tc.path, nil)
		if tc.session {
			req.AddCookie(f.cookie)
		}
		res := f.do(t, req)
		if !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") {
			t.Errorf("%s: not HTML (%d)", tc.path, res.StatusCode)
			continue
		}
		h := res.Header
		csp := h.Get("Content-Security-Policy")
		if !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") || strings.Contains(csp, "unsafe-inline") {
			t.Errorf("%s: CSP %q", tc.path, csp)
		}
		if h.Get("Referrer-Policy") != "no-referrer" || h.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: headers %v", tc.path, h)
		}
		if h.Get("Strict-Transport-Security") != "" {
			t.Errorf("%s: HSTS sent with a self-signed certificate", tc.path)
		}
		body, _ := io.ReadAll(res.Body)
		if strings.Contains(string(body), "<script>") {
			t.Errorf("%s: inline script", tc.path)
		}
	}
}

func TestUnknownStepIs404(t *testing.T) {
	f := newFixture(t)
	req := httptest.NewRequest("GET", "/steps/nope", nil)
	req.AddCookie(f.cookie)
	if res := f.do(t, req); res.StatusCode != 404 {
		t.Fatalf("unknown step: %d", res.StatusCode)
	}
	req = httptest.NewRequest("GET", "/steps/review", nil)
	req.AddCookie(f.cookie)
	if res := f.do(t, req); res.StatusCode != 303 || res.Header.Get("Location") != "/steps/preflight" {
		t.Fatalf("unreachable step: %d to %s", res.StatusCode, res.Header.Get("Location"))
	}
}

// testLogWriter sends the server's log to the test log.
type testLogWriter struct{ t *testing.T }

func (w testLogWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}
