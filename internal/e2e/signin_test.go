package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/carto-setup/carto-setup/internal/auth"
	"github.com/carto-setup/carto-setup/internal/demo/release"
)

// TestSignInFromConsoleURL reads the sign-in URL the program printed, opens
// it in Chromium and lands on the first step with the token gone from the
// address bar.
func TestSignInFromConsoleURL(t *testing.T) {
	a := StartApp(t, Options{})
	ctx := Browser(t, true)
	Navigate(t, ctx, a.SignInURL)
	if loc := Location(t, ctx); loc != a.BaseURL+"/steps/preflight" {
		t.Fatalf("landed on %s, want the first step", loc)
	}
	if h := Text(t, ctx, "h1"); h != "Preflight" {
		t.Fatalf("heading %q", h)
	}
	if strings.Contains(Location(t, ctx), "token") {
		t.Fatal("the token stayed in the address bar")
	}
}

// signInWith pastes a token into the sign-in form and submits it.
func signInWith(t *testing.T, ctx context.Context, a *App, token string) {
	t.Helper()
	Navigate(t, ctx, a.BaseURL+"/signin")
	Run(t, ctx, "sign in with a pasted token",
		chromedp.SendKeys(chromedp.CSS("#f-token"), token),
		chromedp.Submit(chromedp.CSS("#f-token")),
		chromedp.WaitVisible(chromedp.CSS("h1")),
		chromedp.Sleep(50*time.Millisecond),
	)
}

// TestWrongTokenAndLockout types wrong tokens: each gets a clear error, and
// after ten the right token is refused too until the lockout ends.
func TestWrongTokenAndLockout(t *testing.T) {
	a := StartApp(t, Options{})
	ctx := Browser(t, false)
	token := a.SignInURL[strings.Index(a.SignInURL, "token=")+len("token="):]

	for i := 1; i <= auth.MaxFailures; i++ {
		signInWith(t, ctx, a, "0123456789abcdef0123456789abcdef01234567")
		if msg := Text(t, ctx, "#error-summary"); !strings.Contains(msg, "That token is not right") {
			t.Fatalf("wrong token %d: message %q", i, msg)
		}
		// Step past the growing delay between tries.
		a.Clock.Advance(31 * time.Second)
	}
	signInWith(t, ctx, a, token)
	if msg := Text(t, ctx, "#error-summary"); !strings.Contains(msg, "locked") {
		t.Fatalf("the 11th try with the right token: %q, want a lockout message", msg)
	}
	if !strings.Contains(a.Stderr.String(), "sign-in locked out") {
		t.Fatalf("the lockout is not on the console:\n%s", a.Stderr)
	}
	a.Clock.Advance(auth.LockoutDuration)
	signInWith(t, ctx, a, token)
	if h := Text(t, ctx, "h1"); h != "Preflight" {
		t.Fatalf("after the lockout the right token should sign in; page heading %q", h)
	}
}

// TestRestartResumesAtSameStep saves progress, restarts the program on the
// same directories and checks that the wizard opens at the same step.
func TestRestartResumesAtSameStep(t *testing.T) {
	rel := t.TempDir()
	if err := release.Write(rel, ""); err != nil {
		t.Fatal(err)
	}
	a := StartApp(t, Options{ReleaseDir: rel})
	ctx := Browser(t, true)
	Navigate(t, ctx, a.SignInURL)
	PassPreflight(t, ctx, a)
	a.Stop(t)

	b := StartApp(t, Options{ReleaseDir: rel})
	if b.SignInURL[strings.Index(b.SignInURL, "token="):] != a.SignInURL[strings.Index(a.SignInURL, "token="):] {
		t.Fatal("the restart changed the token")
	}
	// The session cookie from the first run still works after the restart.
	Navigate(t, ctx, b.BaseURL+"/")
	if loc := Location(t, ctx); loc != b.BaseURL+"/steps/package" {
		t.Fatalf("after restart the wizard opened %s, want the package step", loc)
	}
}
