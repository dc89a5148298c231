package acmeissue_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/letsencrypt/pebble/v2/ca"
	"github.com/letsencrypt/pebble/v2/db"
	"github.com/letsencrypt/pebble/v2/va"
	"github.com/letsencrypt/pebble/v2/wfe"

	"github.com/carto-setup/carto-setup/internal/acmeissue"
	"github.com/carto-setup/carto-setup/internal/certcheck"
	"github.com/carto-setup/carto-setup/internal/check"
	"github.com/carto-setup/carto-setup/internal/testenv"
)

// testDomain resolves to loopback through /etc/hosts, which is where Pebble's
// validation authority (using the system resolver) must find the responder.
const testDomain = "localhost"

// pebble is an in-process Pebble: its ACME directory on an httptest TLS
// server, a client that trusts that server, and a pool with Pebble's root.
type pebble struct {
	directoryURL string
	client       *http.Client
	roots        *x509.CertPool
}

// startPebble runs Pebble's CA, VA and WFE in-process. Its HTTP-01 validation
// connects to httpPort on whatever testDomain resolves to.
func startPebble(t *testing.T, httpPort int) *pebble {
	t.Helper()
	if addrs, err := net.LookupHost(testDomain); err != nil || len(addrs) == 0 {
		testenv.Missing(t, "a resolver that maps localhost to loopback", "add '127.0.0.1 localhost' to /etc/hosts")
	}
	// Validate at once, never reject nonces at random, never reuse an
	// authorization: the settings that make Pebble fast and deterministic.
	t.Setenv("PEBBLE_VA_NOSLEEP", "1")
	t.Setenv("PEBBLE_WFE_NONCEREJECT", "0")
	t.Setenv("PEBBLE_AUTHZREUSE", "0")

	logs := &testenv.Buffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("pebble log:\n%s", logs.String())
		}
	})
	logger := log.New(logs, "pebble ", log.Lmicroseconds)
	store := db.NewMemoryStore()
	authority := ca.New(logger, store, "", "ecdsa", 0, 1, map[string]ca.Profile{"default": {Description: "default"}})
	validator := va.New(logger, httpPort, 0, false, "", store)
	frontEnd := wfe.New(logger, store, validator, authority, []string{"pebble.letsencrypt.org"}, false, false, 0, 0)

	srv := httptest.NewTLSServer(frontEnd.Handler())
	t.Cleanup(srv.Close)

	roots := x509.NewCertPool()
	roots.AddCert(authority.GetRootCert(0).Cert)
	return &pebble{directoryURL: srv.URL + wfe.DirectoryPath, client: srv.Client(), roots: roots}
}

// serveChallenges serves the responder on a loopback port and returns it.
func serveChallenges(t *testing.T, h http.Handler) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	// localhost may resolve to ::1 first on some hosts; answer there too.
	if ln6, err := net.Listen("tcp", net.JoinHostPort("::1", strconv.Itoa(port))); err == nil {
		srv6 := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = srv6.Serve(ln6) }()
		t.Cleanup(func() { _ = srv6.Close() })
	}
	return port
}

func TestObtainFromPebble(t *testing.T) {
	responder := acmeissue.NewHTTPResponder()
	p := startPebble(t, serveChallenges(t, responder))
	accountKey, err := acmeissue.NewAccountKey()
	if err != nil {
		t.Fatal(err)
	}
	cfg := acmeissue.Config{
		DirectoryURL:  p.directoryURL,
		Email:         "admin@example.com",
		Domain:        testDomain,
		AcceptTOS:     true,
		AccountKeyPEM: accountKey,
		HTTPClient:    p.client,
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()

	// Twice with the same account key: the second run finds the account.
	for i := range 2 {
		fullchain, key, err := acmeissue.Obtain(ctx, cfg, responder)
		if err != nil {
			t.Fatalf("Obtain #%d: %v", i+1, err)
		}
		now := time.Now()
		rep := certcheck.Lint(certcheck.Input{Domain: testDomain, CertPEM: fullchain, KeyPEM: key}, now, p.roots)
		for _, r := range rep.Results {
			if r.Status == check.Fail || r.Status == check.Error {
				t.Errorf("lint %s: %s %s", r.ID, r.Status, r.Message)
			}
		}
		for _, id := range []string{certcheck.IDSAN, certcheck.IDChain, certcheck.IDKeyMatch} {
			if r := find(rep, id); r.Status != check.Pass {
				t.Errorf("lint %s = %s (%s), want pass", id, r.Status, r.Message)
			}
		}
		if !rep.Usable() || !bytes.Equal(rep.FullChainPEM, fullchain) {
			t.Errorf("issued chain is not already normalised: usable=%v", rep.Usable())
		}
		renew, err := acmeissue.NeedsRenewal(fullchain, now, 30*24*time.Hour)
		if err != nil || renew {
			t.Errorf("NeedsRenewal(fresh) = %v, %v; want false", renew, err)
		}
	}
}

func TestObtainErrors(t *testing.T) {
	tests := []struct {
		name   string
		setup  func(t *testing.T) acmeissue.Config
		want   acmeissue.Kind
		msgHas string
	}{
		{
			name: "directory unreachable",
			setup: func(t *testing.T) acmeissue.Config {
				return acmeissue.Config{DirectoryURL: "https://127.0.0.1:" + strconv.Itoa(testenv.ClosedPort(t)) + "/dir", Domain: testDomain, AcceptTOS: true}
			},
			want: acmeissue.KindUnreachable, msgHas: "could not be reached",
		},
		{
			name: "terms not accepted",
			setup: func(t *testing.T) acmeissue.Config {
				p := startPebble(t, testenv.ClosedPort(t))
				return acmeissue.Config{DirectoryURL: p.directoryURL, Domain: testDomain, HTTPClient: p.client}
			},
			want: acmeissue.KindTermsNotAccepted, msgHas: "terms of service",
		},
		{
			name: "port 80 not answering",
			setup: func(t *testing.T) acmeissue.Config {
				p := startPebble(t, testenv.ClosedPort(t))
				return acmeissue.Config{DirectoryURL: p.directoryURL, Domain: testDomain, AcceptTOS: true, HTTPClient: p.client}
			},
			want: acmeissue.KindChallengeFailed, msgHas: "port 80",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			_, _, err := acmeissue.Obtain(ctx, tt.setup(t), acmeissue.NewHTTPResponder())
			var ie *acmeissue.IssueError
			if !errors.As(err, &ie) {
				t.Fatalf("Obtain error = %v, want *acmeissue.IssueError", err)
			}
			if ie.Kind != tt.want {
				t.Errorf("Kind = %s, want %s (%v)", ie.Kind, tt.want, err)
			}
			if !bytes.Contains([]byte(ie.Message()), []byte(tt.msgHas)) {
				t.Errorf("Message() = %q, want it to contain %q", ie.Message(), tt.msgHas)
			}
		})
	}
}

func find(rep certcheck.Report, id string) check.Result {
	for _, r := range rep.Results {
		if r.ID == id {
			return r
		}
	}
	return check.Result{ID: id, Status: "missing"}
}
