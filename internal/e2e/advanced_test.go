package e2e

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/carto-setup/carto-setup/internal/envfile"
)

// connectProxy is a real HTTP CONNECT proxy on a loopback port that can
// reach nothing: this machine has no internet, so every tunnel it is asked
// for ends in 502 Bad Gateway, as a corporate proxy without a route would.
func connectProxy(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				if req, err := http.ReadRequest(bufio.NewReader(c)); err != nil || req.Method != http.MethodConnect {
					io.WriteString(c, "HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
					return
				}
				io.WriteString(c, "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
			})
		}
	})
	return "http://" + ln.Addr().String()
}

// envValue reads one key of the installed customer.env.
func envValue(t *testing.T, dir, key string) envfile.Value {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "customer.env"))
	if err != nil {
		t.Fatal(err)
	}
	f, err := envfile.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	return envfile.ValueOf(f, key)
}

// TestAdvancedSettingsAndConflict walks the Advanced settings in Chromium:
// a proxy with a password is refused next to its field and not shown
// again; a real proxy is tested (the egress probes go through it, and fail
// for want of internet, with a reason to continue); a Google Maps key and
// further settings are saved, the key never shown again. The review shows
// them in the customer.env diff, masked, and the install succeeds. Then
// the admin edits customer.env by hand: a key of their own, the proxy and
// a further setting the wizard wrote. The review keeps the first, shows
// the other two side by side, refuses to install until each has a choice,
// and installs with them: the admin's LOG_LEVEL, the wizard's proxy, the
// admin's own key. Choosing the self-signed certificate again reuses it:
// nothing of certs/ changes and nothing restarts.
func TestAdvancedSettingsAndConflict(t *testing.T) {
	f := newInstallFixture(t)
	ctx := Browser(t, true)
	proxy := connectProxy(t)
	const mapsKey = "AIzaE2eFixtureMapsKey0123456789"
	f.walkToAdvanced(t, ctx, f.pg.Password)

	// A proxy with credentials: refused next to the field, not echoed.
	Fill(t, ctx, "https_proxy", "http://alice:hunter2-proxy@proxy.internal:3128")
	Submit(t, ctx, `button[value="test"]`)
	if msg := Text(t, ctx, "#e-https_proxy"); !strings.Contains(msg, "authentication") {
		t.Fatalf("the proxy with a password is not refused next to its field: %q", msg)
	}
	if strings.Contains(pageText(ctx), "hunter2-proxy") || strings.Contains(Get(t, ctx, "proxy value", chromedp.Value(chromedp.CSS("#f-https_proxy"))), "hunter2") {
		t.Fatal("the proxy password is shown again")
	}

	// The real proxy, a Maps key and two further settings.
	Fill(t, ctx, "https_proxy", proxy)
	Fill(t, ctx, "no_proxy", "localhost,127.0.0.1,.internal")
	Fill(t, ctx, "google_maps_api_key", mapsKey)
	Fill(t, ctx, "extra.0.key", "LOG_LEVEL")
	Fill(t, ctx, "extra.0.value", "debug")
	Fill(t, ctx, "extra.1.key", "MY_FEATURE_FLAG")
	Fill(t, ctx, "extra.1.value", "on")
	Submit(t, ctx, `button[value="test"]`)
	statuses := Get(t, ctx, "advanced checks", chromedp.Evaluate[map[string]string](
		`Object.fromEntries(Array.from(document.querySelectorAll("tr[data-check]")).map(function(r){ return [r.dataset.check, r.dataset.status + " " + r.innerText] }))`))
	if !strings.HasPrefix(statuses["advanced.proxy.connect"], "pass") {
		t.Fatalf("the proxy is not reached: %v", statuses)
	}
	if s := statuses["advanced.proxy.egress.auth.carto.com"]; !strings.HasPrefix(s, "fail") || !strings.Contains(s, "502") {
		t.Fatalf("auth.carto.com through the proxy: %q, want the proxy's 502", s)
	}
	html := Get(t, ctx, "page", chromedp.Evaluate[string](`document.documentElement.outerHTML`))
	if strings.Contains(html, mapsKey) {
		t.Fatal("the Maps key is rendered back")
	}
	// A test run offers no reasons; Continue does, next to each failure.
	Submit(t, ctx, `button[value="next"]`)
	if n := FillOverrides(t, ctx, "e2e: no internet behind the test proxy"); n == 0 {
		t.Fatalf("Continue past failed proxy checks asks for no reason: %s", pageText(ctx))
	}
	Submit(t, ctx, `button[value="next"]`)
	if !strings.HasSuffix(Location(t, ctx), "/steps/review") {
		t.Fatalf("expected the review, at %s: %s", Location(t, ctx), pageText(ctx))
	}
	diff := Text(t, ctx, "#diff")
	for key, want := range map[string]string{"HTTPS_PROXY": proxy, "GOOGLE_MAPS_API_KEY": "****", "MY_FEATURE_FLAG": "on", "LOG_LEVEL": "debug"} {
		found := false
		for _, l := range strings.Split(diff, "\n") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(l), "+ "+key+"="); ok && strings.Trim(v, `'"`) == want {
				found = true
			}
		}
		if !found {
			t.Errorf("the review's diff does not set %s to %q:\n%s", key, want, diff)
		}
	}
	if strings.Contains(diff, mapsKey) {
		t.Fatal("the review shows the Maps key")
	}
	Submit(t, ctx, `button[value="install"]`)
	if status, _ := watchInstall(t, ctx); status != "succeeded" {
		t.Fatalf("first install %s: %s", status, pageText(ctx))
	}

	// The admin's hand edits, with an editor: a setting the wizard wrote
	// in the Advanced step, the proxy, and a key of their own.
	path := filepath.Join(f.release, "customer.env")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	env, err := envfile.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if err := errors.Join(env.Set("LOG_LEVEL", "warn"), env.Set("HTTPS_PROXY", "http://hand.internal:8080")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, append(env.Bytes(), "# mine\nMY_HAND_SETTING=kept-by-hand\n"...), 0o600); err != nil {
		t.Fatal(err)
	}

	Navigate(t, ctx, f.app.BaseURL+"/steps/review")
	conflicts := Get(t, ctx, "conflicts", chromedp.Evaluate[map[string]string](
		`Object.fromEntries(Array.from(document.querySelectorAll("#conflicts tr[data-key]")).map(function(r){ return [r.dataset.key, r.querySelector(".hand").innerText + " | " + r.querySelector(".proposed").innerText] }))`))
	if got := conflicts["HTTPS_PROXY"]; got != "http://hand.internal:8080 | the wizard has "+proxy {
		t.Errorf("HTTPS_PROXY side by side: %q", got)
	}
	if got := conflicts["LOG_LEVEL"]; got != "warn | the wizard has debug" {
		t.Errorf("LOG_LEVEL side by side: %q", got)
	}
	if !strings.Contains(Text(t, ctx, "#kept"), "MY_HAND_SETTING") {
		t.Errorf("the hand-added key is not listed as kept: %q", Text(t, ctx, "#kept"))
	}
	if !Get(t, ctx, "install disabled", chromedp.Evaluate[bool](`document.querySelector('button[value="install"]').disabled`)) {
		t.Error("Install is enabled while conflicts are open")
	}
	// Saving with one choice missing is refused next to it.
	Choose(t, ctx, "resolve.LOG_LEVEL", "mine")
	Submit(t, ctx, `button[value="resolve"]`)
	if Get(t, ctx, "missing choice", chromedp.Evaluate[int](`document.querySelectorAll('#conflicts tr[data-key="HTTPS_PROXY"] .error').length`)) != 1 {
		t.Fatalf("a missing choice is not refused next to its conflict: %s", pageText(ctx))
	}
	Choose(t, ctx, "resolve.LOG_LEVEL", "mine")
	Choose(t, ctx, "resolve.HTTPS_PROXY", "wizard")
	Submit(t, ctx, `button[value="resolve"]`)
	if Get(t, ctx, "install disabled", chromedp.Evaluate[bool](`document.querySelector('button[value="install"]').disabled`)) {
		t.Fatalf("Install is still disabled after both choices: %s", pageText(ctx))
	}
	Submit(t, ctx, `button[value="install"]`)
	if status, _ := watchInstall(t, ctx); status != "succeeded" {
		t.Fatalf("install after the choices %s: %s", status, pageText(ctx))
	}
	for key, want := range map[string]string{"LOG_LEVEL": "warn", "HTTPS_PROXY": proxy, "MY_HAND_SETTING": "kept-by-hand", "MY_FEATURE_FLAG": "on"} {
		if got := envValue(t, f.release, key); !got.Set || got.Text != want {
			t.Errorf("after the install customer.env has %s=%+v, want %q", key, got, want)
		}
	}

	// The self-signed certificate chosen again in the wizard is reused.
	Navigate(t, ctx, f.app.BaseURL+"/steps/tls")
	Choose(t, ctx, "tls_mode", "self-signed")
	Submit(t, ctx, `button[value="next"]`)
	Navigate(t, ctx, f.app.BaseURL+"/steps/review")
	files := Get(t, ctx, "files", chromedp.Evaluate[map[string]string](
		`Object.fromEntries(Array.from(document.querySelectorAll("#files tr[data-path]")).map(function(r){ return [r.dataset.path, r.dataset.action] }))`))
	for _, p := range []string{"certs/carto-router.crt", "certs/carto-router.key", "customer.env", ".env"} {
		if files[p] != "unchanged" {
			t.Errorf("after choosing self-signed again the review plans %q for %s", files[p], p)
		}
	}
	if n := Get(t, ctx, "restarts", chromedp.Evaluate[int](`document.querySelectorAll("#restarts li").length`)); n != 0 {
		t.Errorf("the review plans %d restarts for the same answers", n)
	}
	if n := Get(t, ctx, "conflicts", chromedp.Evaluate[int](`document.querySelectorAll("#conflicts tr[data-key]").length`)); n != 0 {
		t.Errorf("the settled conflicts are asked again: %s", Text(t, ctx, "#conflicts"))
	}
}
