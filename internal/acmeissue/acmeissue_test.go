package acmeissue

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/acme"
)

func TestClassify(t *testing.T) {
	cfg := Config{Domain: "carto.example.com"}
	prob := func(typ string) *acme.Error {
		return &acme.Error{StatusCode: 403, ProblemType: "urn:ietf:params:acme:error:" + typ}
	}
	rateLimited := prob("rateLimited")
	rateLimited.StatusCode = 429
	rateLimited.Header = http.Header{"Retry-After": []string{"3600"}}
	transport := &url.Error{Op: "Get", URL: "https://acme.example/dir", Err: errors.New("dial tcp: connection refused")}

	tests := []struct {
		name    string
		st      stage
		err     error
		want    Kind
		msgHas  string
		wantTTL time.Duration
	}{
		{"directory transport", stageDirectory, transport, KindUnreachable, "(acme.example) could not be reached", 0},
		{"directory 500", stageDirectory, &acme.Error{StatusCode: 500}, KindUnreachable, "could not be reached", 0},
		{"terms changed", stageAccount, prob("userActionRequired"), KindTermsNotAccepted, "terms of service", 0},
		{"rate limited", stageOrder, fmt.Errorf("order: %w", rateLimited), KindRateLimited, "try again in 1h0m0s", time.Hour},
		{"caa forbids", stageOrder, prob("caa"), KindRejected, "CAA", 0},
		{"rejected identifier", stageOrder, prob("rejectedIdentifier"), KindRejected, "refuses", 0},
		{"connection refused on port 80", stageChallenge,
			&acme.AuthorizationError{Identifier: "carto.example.com", Errors: []error{prob("connection")}},
			KindChallengeFailed, "port 80", 0},
		{"dns failure", stageChallenge, prob("dns"), KindChallengeFailed, "resolve to this machine", 0},
		{"order invalid", stageChallenge, &acme.OrderError{Status: "invalid", Problem: prob("unauthorized")}, KindChallengeFailed, "carto.example.com", 0},
		{"validation timed out", stageChallenge, context.DeadlineExceeded, KindChallengeFailed, "port 80", 0},
		{"transport later", stageFinalize, transport, KindUnreachable, "could not be reached", 0},
		{"server error", stageFinalize, prob("serverInternal"), KindOther, "log", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := classify(tt.st, cfg, "acme.example", tt.err)
			if e.Kind != tt.want {
				t.Errorf("Kind = %s, want %s", e.Kind, tt.want)
			}
			if !strings.Contains(e.Message(), tt.msgHas) {
				t.Errorf("Message() = %q, want it to contain %q", e.Message(), tt.msgHas)
			}
			if e.RetryAfter != tt.wantTTL {
				t.Errorf("RetryAfter = %s, want %s", e.RetryAfter, tt.wantTTL)
			}
			if !errors.Is(e, tt.err) {
				t.Errorf("the *IssueError does not wrap the original error")
			}
			if strings.Contains(e.Message(), "urn:") {
				t.Errorf("Message() leaks the raw problem: %q", e.Message())
			}
		})
	}
}

func TestHTTPResponder(t *testing.T) {
	h := NewHTTPResponder()
	if err := h.Present("tok", "tok.thumb"); err != nil {
		t.Fatal(err)
	}
	_ = h.Present("gone", "gone.thumb")
	h.CleanUp("gone")
	fallback := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusTeapot)
	})

	tests := []struct {
		name       string
		handler    http.Handler
		method     string
		path       string
		wantStatus int
		wantBody   string
	}{
		{"presented token", h, http.MethodGet, "/.well-known/acme-challenge/tok", http.StatusOK, "tok.thumb"},
		{"head", h, http.MethodHead, "/.well-known/acme-challenge/tok", http.StatusOK, ""},
		{"cleaned up token", h, http.MethodGet, "/.well-known/acme-challenge/gone", http.StatusNotFound, ""},
		{"post", h, http.MethodPost, "/.well-known/acme-challenge/tok", http.StatusNotFound, ""},
		{"other path", h, http.MethodGet, "/", http.StatusNotFound, ""},
		{"fallback for other paths", h.Handler(fallback), http.MethodGet, "/steps/tls", http.StatusTeapot, ""},
		{"fallback keeps challenges", h.Handler(fallback), http.MethodGet, "/.well-known/acme-challenge/tok", http.StatusOK, "tok.thumb"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			tt.handler.ServeHTTP(rec, httptest.NewRequest(tt.method, tt.path, nil))
			if rec.Code != tt.wantStatus {
				t.Errorf("status = %d, want %d", rec.Code, tt.wantStatus)
			}
			if tt.wantBody != "" && rec.Body.String() != tt.wantBody {
				t.Errorf("body = %q, want %q", rec.Body.String(), tt.wantBody)
			}
		})
	}
}

func TestNeedsRenewal(t *testing.T) {
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	certPEM := testCert(t, now.Add(-24*time.Hour), now.Add(40*24*time.Hour))
	keyThenCert := append([]byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"), certPEM...)

	tests := []struct {
		name    string
		pem     []byte
		now     time.Time
		within  time.Duration
		want    bool
		wantErr bool
	}{
		{"far from expiry", certPEM, now, 30 * 24 * time.Hour, false, false},
		{"inside the window", certPEM, now.Add(15 * 24 * time.Hour), 30 * 24 * time.Hour, true, false},
		{"already expired", certPEM, now.Add(50 * 24 * time.Hour), 0, true, false},
		{"skips non-certificate blocks", keyThenCert, now, 30 * 24 * time.Hour, false, false},
		{"not PEM", []byte("garbage"), now, 0, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := NeedsRenewal(tt.pem, tt.now, tt.within)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("NeedsRenewal = %v, %v; want %v, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestLoadAccountKey(t *testing.T) {
	generated, err := NewAccountKey()
	if err != nil {
		t.Fatal(err)
	}
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecDER, _ := x509.MarshalECPrivateKey(ec)
	sec1 := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: ecDER})

	tests := []struct {
		name    string
		pem     []byte
		wantErr bool
	}{
		{"empty generates", nil, false},
		{"PKCS#8 from NewAccountKey", generated, false},
		{"SEC1 EC key", sec1, false},
		{"not PEM", []byte("nope"), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := loadAccountKey(tt.pem)
			if (err != nil) != tt.wantErr || (err == nil && k == nil) {
				t.Errorf("loadAccountKey = %v, %v", k, err)
			}
		})
	}
}

func testCert(t *testing.T, notBefore, notAfter time.Time) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "carto.example.com"},
		DNSNames:     []string{"carto.example.com"},
		NotBefore:    notBefore,
		NotAfter:     notAfter,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}
