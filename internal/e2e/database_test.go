package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/carto-setup/carto-setup/internal/demo/release"
	"github.com/carto-setup/carto-setup/internal/pgtest"
	"github.com/carto-setup/carto-setup/internal/testenv"
)

// walkToDatabase signs in and passes preflight, package and domain (with
// reasons for whatever this machine cannot satisfy).
func walkToDatabase(t *testing.T, ctx context.Context, a *App) {
	t.Helper()
	pkg := t.TempDir()
	key, err := release.SampleKeyJSON()
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(pkg, "customer.env"), release.SampleCustomerEnv("carto3-onprem.lan"), 0o600)
	os.WriteFile(filepath.Join(pkg, "key.json"), key, 0o600)
	Navigate(t, ctx, a.SignInURL)
	PassPreflight(t, ctx, a)
	Upload(t, ctx, "customer_env", filepath.Join(pkg, "customer.env"))
	Upload(t, ctx, "key_json", filepath.Join(pkg, "key.json"))
	Submit(t, ctx, `button[value="upload"]`)
	Submit(t, ctx, `button[value="next"]`)
	Fill(t, ctx, "domain", "carto.example.com")
	Submit(t, ctx, `button[value="check"]`)
	FillOverrides(t, ctx, "e2e: no DNS here")
	Submit(t, ctx, `button[value="next"]`)
	if !strings.HasSuffix(Location(t, ctx), "/steps/database") {
		t.Fatalf("expected the database step, at %s: %s", Location(t, ctx), pageText(ctx))
	}
}

// fieldError returns the error text rendered next to a field.
func fieldError(t *testing.T, ctx context.Context, field string) string {
	t.Helper()
	return Get(t, ctx, "error of "+field, chromedp.Evaluate[string](fmt.Sprintf(`(function(){ var e = document.getElementById("e-%s"); return e ? e.innerText : "" })()`, field)))
}

// TestDatabaseStepFailureClasses fills the database step in Chromium
// against a real TLS PostgreSQL, presses Test for each mistake, sees the
// failure next to the right field, fixes it and continues.
func TestDatabaseStepFailureClasses(t *testing.T) {
	pg := pgtest.Start(t, pgtest.Options{TLS: true, CertHosts: []string{"localhost", "127.0.0.1"}})
	otherCA := pgtest.NewCA(t)
	dir := t.TempDir()
	good, wrong := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "other-ca.pem")
	os.WriteFile(good, pg.CAPEM, 0o600)
	os.WriteFile(wrong, otherCA.PEM, 0o600)

	a := StartApp(t, Options{Args: []string{"--http-addr", "127.0.0.1:0"}})
	ctx := Browser(t, true)
	walkToDatabase(t, ctx, a)

	fill := func(host string, port int, password, caFile string) {
		Choose(t, ctx, "db_mode", "external")
		Fill(t, ctx, "host", host)
		Fill(t, ctx, "port", fmt.Sprint(port))
		Fill(t, ctx, "admin_user", pg.User)
		Fill(t, ctx, "admin_password", password)
		Fill(t, ctx, "workspace_password", "e2e-Workspace-1")
		SetChecked(t, ctx, "ssl", true)
		Run(t, ctx, "ssl mode", chromedp.SetValue(chromedp.CSS(`select[name="ssl_mode"]`), "verify-full"))
		if caFile != "" {
			Upload(t, ctx, "ca", caFile)
		}
		Choose(t, ctx, "cache_mode", "embedded")
		Submit(t, ctx, `button[value="test"]`)
	}
	cases := []struct {
		name, host string
		port       int
		password   string
		ca         string
		field      string
		want       string
	}{
		{"name does not resolve", "db.nonexistent.invalid", pg.Port, pg.Password, good, "host", "does not resolve"},
		{"closed port", "127.0.0.1", testenv.FreePort(t), pg.Password, good, "port", "refused"},
		{"CA of another server", "127.0.0.1", pg.Port, pg.Password, wrong, "ca", ""},
		{"wrong password", "127.0.0.1", pg.Port, "not-the-password", good, "admin_password", "rejected the password"},
	}
	for _, tc := range cases {
		fill(tc.host, tc.port, tc.password, tc.ca)
		msg := fieldError(t, ctx, tc.field)
		if msg == "" || !strings.Contains(msg, tc.want) {
			t.Errorf("%s: message next to %s = %q, want it to mention %q; page: %s", tc.name, tc.field, msg, tc.want, pageText(ctx))
		}
		if strings.Contains(Text(t, ctx, "main"), "not-the-password") {
			t.Fatalf("%s: the typed password was rendered back", tc.name)
		}
	}

	// Fixed: everything passes and the step continues to TLS.
	fill("127.0.0.1", pg.Port, pg.Password, good)
	for _, f := range []string{"host", "port", "ca", "admin_password"} {
		if msg := fieldError(t, ctx, f); msg != "" {
			t.Errorf("after the fix %s still shows %q", f, msg)
		}
	}
	Submit(t, ctx, `button[value="next"]`)
	if !strings.HasSuffix(Location(t, ctx), "/steps/tls") {
		t.Fatalf("after a passing test Continue should reach TLS, at %s: %s", Location(t, ctx), pageText(ctx))
	}
}
