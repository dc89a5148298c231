package smoketest

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/carto-setup/carto-setup/internal/check"
	"github.com/carto-setup/carto-setup/internal/selfsigned"
)

const domain = "carto.example.com"

func selfSigned(t *testing.T) (string, tls.Certificate) {
	t.Helper()
	c, k, err := selfsigned.Generate(selfsigned.Request{CommonName: domain, DNSNames: []string{domain}, NotBefore: time.Now().Add(-time.Hour), Validity: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(c, k)
	if err != nil {
		t.Fatal(err)
	}
	return string(c), pair
}

// chain returns a root pool and a leaf signed by an intermediate: the full
// chain's PEM (leaf first) and a certificate for the server that presents
// only the first n certificates.
func chain(t *testing.T) (*x509.CertPool, string, []*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	mk := func(cn string, parent *x509.Certificate, parentKey *ecdsa.PrivateKey, ca bool, serial int64) (*x509.Certificate, *ecdsa.PrivateKey) {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			BasicConstraintsValid: true, IsCA: ca}
		if ca {
			tpl.KeyUsage = x509.KeyUsageCertSign
		} else {
			tpl.DNSNames = []string{domain}
			tpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
			tpl.KeyUsage = x509.KeyUsageDigitalSignature
		}
		if parent == nil {
			parent, parentKey = tpl, key
		}
		der, err := x509.CreateCertificate(rand.Reader, tpl, parent, &key.PublicKey, parentKey)
		if err != nil {
			t.Fatal(err)
		}
		c, _ := x509.ParseCertificate(der)
		return c, key
	}
	root, rootKey := mk("Test Root", nil, nil, true, 1)
	inter, interKey := mk("Test Intermediate", root, rootKey, true, 2)
	leaf, leafKey := mk(domain, inter, interKey, false, 3)
	pool := x509.NewCertPool()
	pool.AddCert(root)
	var buf bytes.Buffer
	for _, c := range []*x509.Certificate{leaf, inter} {
		pem.Encode(&buf, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	return pool, buf.String(), []*x509.Certificate{leaf, inter}, leafKey
}

// router starts an HTTPS server with cert and an HTTP redirect server, and
// returns a config pointing at them.
func router(t *testing.T, cert tls.Certificate, h http.Handler) Config {
	t.Helper()
	if h == nil {
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch {
			case r.URL.Path == "/" || r.URL.Path == "/acc/":
				w.Write([]byte("<html></html>"))
			case r.URL.Path == "/workspace-api/health" && r.Header.Get("Carto-Monitoring") == "true":
				w.Write([]byte(`{"status":"ok"}`))
			default:
				http.NotFound(w, r)
			}
		})
	}
	s := httptest.NewUnstartedServer(h)
	s.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	s.StartTLS()
	t.Cleanup(s.Close)
	redir := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "https://"+r.Host+r.URL.RequestURI(), http.StatusMovedPermanently)
	}))
	t.Cleanup(redir.Close)
	port := func(u string) int {
		_, p, _ := net.SplitHostPort(strings.TrimPrefix(strings.TrimPrefix(u, "https://"), "http://"))
		n, _ := strconv.Atoi(p)
		return n
	}
	return Config{Domain: domain, Address: "127.0.0.1", HTTPSPort: port(s.URL), HTTPPort: port(redir.URL), Timeout: 5 * time.Second}
}

func byID(results []check.Result) map[string]check.Result {
	m := map[string]check.Result{}
	for _, r := range results {
		m[r.ID] = r
	}
	return m
}

func TestCertificate(t *testing.T) {
	certPEM, pair := selfSigned(t)
	otherPEM, _ := selfSigned(t)
	roots, chainPEM, certs, leafKey := chain(t)
	full := tls.Certificate{Certificate: [][]byte{certs[0].Raw, certs[1].Raw}, PrivateKey: leafKey}
	leafOnly := tls.Certificate{Certificate: [][]byte{certs[0].Raw}, PrivateKey: leafKey}
	tests := []struct {
		name       string
		serve      tls.Certificate
		want       string
		selfSigned bool
		cert, ch   check.Status
		msg        string
	}{
		{name: "self-signed as chosen", serve: pair, want: certPEM, selfSigned: true, cert: check.Pass, ch: check.Pass},
		{name: "different certificate", serve: pair, want: otherPEM, selfSigned: true, cert: check.Fail, msg: "different certificate"},
		{name: "full chain", serve: full, want: chainPEM, cert: check.Pass, ch: check.Pass},
		{name: "missing intermediate", serve: leafOnly, want: chainPEM, cert: check.Pass, ch: check.Fail, msg: "1 of the 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := router(t, tt.serve, nil)
			cfg.CertPEM, cfg.SelfSigned, cfg.RootCAs = tt.want, tt.selfSigned, roots
			got := byID(certificate(context.Background(), Deps{Dial: (&net.Dialer{}).DialContext}, cfg))
			c := got["smoke.tls.certificate"]
			if c.Status != tt.cert {
				t.Errorf("certificate: %s (%s), want %s", c.Status, c.Message, tt.cert)
			}
			if tt.ch != "" && got["smoke.tls.chain"].Status != tt.ch {
				t.Errorf("chain: %s (%s), want %s", got["smoke.tls.chain"].Status, got["smoke.tls.chain"].Message, tt.ch)
			}
			all := c.Message + got["smoke.tls.chain"].Message
			if tt.msg != "" && !strings.Contains(all, tt.msg) {
				t.Errorf("messages %q lack %q", all, tt.msg)
			}
			for _, r := range got {
				if r.Status == check.Fail && r.Hint == "" {
					t.Errorf("%s fails without a hint", r.ID)
				}
			}
		})
	}
}

func TestRunAgainstARouter(t *testing.T) {
	certPEM, pair := selfSigned(t)
	cfg := router(t, pair, nil)
	cfg.CertPEM, cfg.SelfSigned = certPEM, true
	cfg.Services, cfg.Scales = []string{"router-http", "workspace-api", MigrationsService, "workspace-postgres"}, map[string]int{"workspace-postgres": 0}
	cfg.Health = []Target{{"workspace-api", "http://workspace-api:3000/health"}, {"maps-api", "http://maps-api:8002/health"}}
	deps := Deps{
		Containers: func(context.Context) ([]Container, error) {
			return []Container{
				{Service: "router-http", State: "running"},
				{Service: "workspace-api", Name: "p-workspace-api-1", State: "exited", ExitCode: 137},
				{Service: MigrationsService, State: "exited", ExitCode: 0},
			}, nil
		},
		Probe: func(_ context.Context, urls []string) ([]Answer, error) {
			return []Answer{{URL: urls[0], Status: 200}, {URL: urls[1], Error: "the connection was refused"}}, nil
		},
		Database: func(context.Context) []check.Result {
			return []check.Result{{Step: "database", ID: "database.auth", Status: check.Pass, Field: "admin_password"}}
		},
		Buckets: func(context.Context) []check.Result {
			return []check.Result{{Step: "buckets", ID: "buckets.imports.cors", Status: check.Fail, Message: "The bucket imports has no CORS rules.", Hint: "aws s3api put-bucket-cors"}}
		},
	}
	got := byID(Run(context.Background(), deps, cfg))
	want := map[string]check.Status{
		"smoke.service.router-http":          check.Pass,
		"smoke.service.workspace-api":        check.Fail,
		"smoke.service." + MigrationsService: check.Pass,
		"smoke.tls.certificate":              check.Pass,
		"smoke.tls.domain":                   check.Pass,
		"smoke.tls.chain":                    check.Pass,
		"smoke.http.redirect":                check.Pass,
		"smoke.router.workspace":             check.Pass,
		"smoke.router.accounts":              check.Pass,
		"smoke.router.health.workspace-api":  check.Pass,
		"smoke.router.health.maps-api":       check.Warn,
		"smoke.health.workspace-api":         check.Pass,
		"smoke.health.maps-api":              check.Fail,
		"smoke.database.auth":                check.Pass,
		"smoke.buckets.imports.cors":         check.Fail,
	}
	for id, st := range want {
		if got[id].Status != st {
			t.Errorf("%s: %s (%s), want %s", id, got[id].Status, got[id].Message, st)
		}
		if got[id].Step != Step {
			t.Errorf("%s has step %q", id, got[id].Step)
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d results, want %d: %v", len(got), len(want), got)
	}
	if _, ok := got["smoke.service.workspace-postgres"]; ok {
		t.Error("a service scaled to 0 is expected")
	}
	if m := got["smoke.service.workspace-api"].Message; !strings.Contains(m, "exited (137)") {
		t.Errorf("stopped service message %q", m)
	}
	if got["smoke.database.auth"].Field != "" {
		t.Error("a re-run check keeps its form field")
	}
}

func TestJudgeService(t *testing.T) {
	tests := []struct {
		svc  string
		cs   []Container
		want check.Status
	}{
		{"maps-api", nil, check.Fail},
		{"maps-api", []Container{{State: "restarting", ExitCode: 1}}, check.Fail},
		{"maps-api", []Container{{State: "exited"}, {State: "running"}}, check.Pass},
		{MigrationsService, []Container{{State: "exited", ExitCode: 1}}, check.Fail},
		{MigrationsService, []Container{{State: "running"}}, check.Warn},
	}
	for _, tt := range tests {
		if got := judgeService(tt.svc, tt.cs); got.Status != tt.want || (got.Status == check.Fail && got.Hint == "") {
			t.Errorf("%s %v: %s %q, want %s", tt.svc, tt.cs, got.Status, got.Hint, tt.want)
		}
	}
}

func TestNothingListens(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	certPEM, _ := selfSigned(t)
	cfg := Config{Domain: domain, Address: "127.0.0.1", HTTPPort: port, HTTPSPort: port, CertPEM: certPEM, Timeout: 2 * time.Second}
	got := byID(Run(context.Background(), Deps{Containers: func(context.Context) ([]Container, error) { return nil, nil }}, cfg))
	for _, id := range []string{"smoke.tls.certificate", "smoke.http.redirect", "smoke.router.workspace"} {
		if got[id].Status != check.Fail || !strings.Contains(got[id].Message, "refused") {
			t.Errorf("%s: %s %q", id, got[id].Status, got[id].Message)
		}
	}
}

func TestProbeAndParse(t *testing.T) {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Carto-Monitoring") != "true" {
			http.NotFound(w, r)
		}
	}))
	defer s.Close()
	var out bytes.Buffer
	urls := []string{s.URL + "/health", "http://127.0.0.1:1/health"}
	if err := Probe(context.Background(), urls, 2*time.Second, &out); err != nil {
		t.Fatal(err)
	}
	answers := ParseAnswers(append([]byte("noise\r\n"), bytes.ReplaceAll(out.Bytes(), []byte("\n"), []byte("\r\n"))...))
	if len(answers) != 2 || answers[0].Status != 200 || answers[1].Error == "" {
		t.Errorf("answers %+v", answers)
	}
}

func TestHealthTargets(t *testing.T) {
	env := map[string]string{
		"WORKSPACE_API_INTERNAL_URL": "workspace-api:3000",
		"MAPS_API_INTERNAL_URL":      "http://maps-api:8002/",
		"OTHER_INTERNAL_URL":         "not-a-service:1",
		"LDS_API_INTERNAL_URL":       "lds-api",
	}
	got := HealthTargets(env, []string{"workspace-api", "maps-api", "lds-api"})
	want := []Target{{"maps-api", "http://maps-api:8002/health"}, {"workspace-api", "http://workspace-api:3000/health"}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("got %v, want %v", got, want)
	}
	if got := HealthTargets(nil, []string{"workspace-api"}); len(got) != 1 || got[0].URL != "http://workspace-api:3000/health" {
		t.Errorf("default: %v", got)
	}
}
