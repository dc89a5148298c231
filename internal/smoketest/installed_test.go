package smoketest

import (
	"context"
	"crypto/tls"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/carto-setup/carto-setup/internal/check"
	"github.com/carto-setup/carto-setup/internal/dbcheck"
	"github.com/carto-setup/carto-setup/internal/selfsigned"
)

// installedRelease writes what an install leaves: certs/carto-router.crt
// and the .env variables that point router-http at it.
func installedRelease(t *testing.T, domain string, certPEM []byte) (string, map[string]string) {
	t.Helper()
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "certs"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "certs", "carto-router.crt"), certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return dir, map[string]string{
		"SELFHOSTED_DOMAIN":               domain,
		"ROUTER_SSL_AUTOGENERATE":         "0",
		"ROUTER_SSL_CERTIFICATE_PATH":     RouterCertsMount + "carto-router.crt",
		"ROUTER_SSL_CERTIFICATE_KEY_PATH": RouterCertsMount + "carto-router.key",
	}
}

// certFor makes a self-signed certificate for domain, as the TLS step's
// "self-signed" choice does.
func certFor(t *testing.T, domain string) ([]byte, tls.Certificate) {
	t.Helper()
	c, k, err := selfsigned.Generate(selfsigned.Request{CommonName: domain, DNSNames: []string{domain}, NotBefore: time.Now().Add(-time.Hour), Validity: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(c, k)
	if err != nil {
		t.Fatal(err)
	}
	return c, pair
}

// TestInstalledCertificate is issue 19's defect and its tampered twin,
// against a real TLS router on loopback: installed for carto.localtest,
// the domain changed to carto2.localtest and installed again.
//
//   - stale SAN: the TLS step was not re-derived, so certs/ still holds the
//     old certificate and the router presents it. Byte for byte it matches
//     what is installed, and before this check the smoke test passed; it
//     must fail because the certificate does not cover carto2.localtest.
//   - tampered: certs/ holds the new certificate but the router still
//     presents the old one (not restarted, or replaced by hand). The bytes
//     differ: fail.
//   - right: certs/ and the router agree on a certificate for the new
//     domain: pass.
//
// No override gets past either failure.
func TestInstalledCertificate(t *testing.T) {
	t.Parallel()
	oldPEM, oldPair := certFor(t, "carto.localtest")
	newPEM, newPair := certFor(t, "carto2.localtest")
	tests := []struct {
		name      string
		installed []byte
		serves    tls.Certificate
		cert, dom check.Status
	}{
		{"stale SAN", oldPEM, oldPair, check.Pass, check.Fail},
		{"tampered", newPEM, oldPair, check.Fail, check.Fail},
		{"right", newPEM, newPair, check.Pass, check.Pass},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir, env := installedRelease(t, "carto2.localtest", tt.installed)
			in, err := ReadInstalled(dir, env)
			if err != nil {
				t.Fatal(err)
			}
			// What the wizard state says now does not count: the config
			// starts from a state that claims the new certificate.
			cfg := router(t, tt.serves, nil)
			cfg.Domain, cfg.CertPEM, cfg.SelfSigned = "carto.localtest", string(newPEM), false
			cfg = in.Apply(cfg)
			got := byID(Run(context.Background(), Deps{}, cfg))
			c, d := got[IDCertificate], got[IDDomain]
			if c.Status != tt.cert || d.Status != tt.dom {
				t.Fatalf("certificate %s (%s), domain %s (%s); want %s, %s", c.Status, c.Message, d.Status, d.Message, tt.cert, tt.dom)
			}
			for _, r := range []check.Result{c, d} {
				if r.Status == check.Fail && (!r.Fixed || r.Hint == "") {
					t.Errorf("%s fails overridable or without a hint: %+v", r.ID, r)
				}
			}
			if tt.dom == check.Fail && !strings.Contains(d.Message, "carto.localtest") {
				t.Errorf("domain message %q does not name what the certificate covers", d.Message)
			}
			if passed := !check.Failed(maps(got)); passed != (tt.cert == check.Pass && tt.dom == check.Pass) {
				t.Errorf("the smoke test passed=%v", passed)
			}
		})
	}
}

func maps(m map[string]check.Result) []check.Result {
	out := make([]check.Result, 0, len(m))
	for _, r := range m {
		out = append(out, r)
	}
	return out
}

func TestReadInstalled(t *testing.T) {
	t.Parallel()
	pemBytes, _ := certFor(t, "carto.localtest")
	dir, env := installedRelease(t, "carto.localtest", pemBytes)
	in, err := ReadInstalled(dir, env)
	if err != nil || in.CertPEM != string(pemBytes) || in.Domain != "carto.localtest" || in.CertFile != filepath.Join(dir, "certs", "carto-router.crt") {
		t.Fatalf("ReadInstalled = %+v, %v", in, err)
	}
	if cfg := in.Apply(Config{}); !cfg.SelfSigned {
		t.Error("a self-signed installed certificate is not taken as self-signed")
	}
	bad := func(k, v string) map[string]string {
		m := map[string]string{}
		for kk, vv := range env {
			m[kk] = vv
		}
		m[k] = v
		return m
	}
	for name, e := range map[string]map[string]string{
		"no domain":      bad("SELFHOSTED_DOMAIN", ""),
		"outside certs/": bad("ROUTER_SSL_CERTIFICATE_PATH", RouterCertsMount+"../../etc/passwd"),
		"other mount":    bad("ROUTER_SSL_CERTIFICATE_PATH", "/usr/src/certs/carto-router.crt"),
		"file not there": bad("ROUTER_SSL_CERTIFICATE_PATH", RouterCertsMount+"missing.crt"),
		"no path at all": bad("ROUTER_SSL_CERTIFICATE_PATH", ""),
		"just the mount": bad("ROUTER_SSL_CERTIFICATE_PATH", RouterCertsMount),
	} {
		if in, err := ReadInstalled(dir, e); err == nil {
			t.Errorf("%s: ReadInstalled = %+v, want an error", name, in)
		}
	}
	in, err = ReadInstalled(dir, bad("ROUTER_SSL_AUTOGENERATE", "1"))
	if err != nil || !in.RouterGenerates || in.CertPEM != "" {
		t.Errorf("autogenerate: %+v, %v", in, err)
	}
}

// TestDatabaseAfterInstall: the workspace role and database the install
// made are expected, not warnings continued past.
func TestDatabaseAfterInstall(t *testing.T) {
	t.Parallel()
	cfg := Config{Domain: domain, Address: "127.0.0.1", HTTPPort: 1, HTTPSPort: 1, Timeout: time.Second}
	deps := Deps{
		Dial: func(context.Context, string, string) (net.Conn, error) { return nil, context.DeadlineExceeded },
		Database: func(context.Context) []check.Result {
			return []check.Result{
				{Step: "database", ID: dbcheck.IDWorkspaceRole, Status: check.Warn, Measured: "exists", Hint: "h"},
				{Step: "database", ID: dbcheck.IDWorkspaceDatabase, Status: check.Warn, Measured: "exists", Hint: "h"},
				{Step: "database", ID: dbcheck.IDWorkspaceRole, Status: check.Warn, Measured: "same as admin", Hint: "h"},
			}
		},
	}
	var db []check.Result
	for _, r := range Run(context.Background(), deps, cfg) {
		if strings.HasPrefix(r.ID, "smoke.database.") {
			db = append(db, r)
		}
	}
	if len(db) != 3 || db[0].Status != check.Pass || db[1].Status != check.Pass || db[2].Status != check.Warn || db[0].Hint != "" {
		t.Errorf("database results after install: %+v", db)
	}
}
