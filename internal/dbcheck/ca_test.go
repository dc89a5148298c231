package dbcheck

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"
)

// makeCert returns a self-signed certificate as DER.
func makeCert(t testing.TB, isCA bool, notBefore, notAfter time.Time) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "test"},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		BasicConstraintsValid: true,
		IsCA:                  isCA,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func pemOf(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func TestParseCA(t *testing.T) {
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	valid := makeCert(t, true, now.Add(-time.Hour), now.Add(time.Hour))
	valid2 := makeCert(t, true, now.Add(-time.Hour), now.Add(time.Hour))
	leaf := makeCert(t, false, now.Add(-time.Hour), now.Add(time.Hour))
	expired := makeCert(t, true, now.Add(-48*time.Hour), now.Add(-24*time.Hour))
	future := makeCert(t, true, now.Add(24*time.Hour), now.Add(48*time.Hour))
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1, 2, 3}})

	tests := []struct {
		name      string
		in        []byte
		wantN     int
		wantError string // substring of the reason
	}{
		{name: "one", in: pemOf(valid), wantN: 1},
		{name: "bundle", in: append(pemOf(valid), pemOf(valid2)...), wantN: 2},
		{name: "leading text", in: append([]byte("Issuer: something\n"), pemOf(valid)...), wantN: 1},
		{name: "empty", in: []byte(" \n"), wantError: "empty"},
		{name: "der", in: valid, wantError: "DER"},
		{name: "junk", in: []byte("hello world"), wantError: "not a PEM certificate"},
		{name: "not a ca", in: pemOf(leaf), wantError: "not a CA certificate"},
		{name: "expired", in: pemOf(expired), wantError: "expired on"},
		{name: "not yet valid", in: pemOf(future), wantError: "not valid before"},
		{name: "private key", in: append(pemOf(valid), keyPEM...), wantError: "private key"},
		{name: "bad der in pem", in: pemOf([]byte{0x30, 0x01, 0x02}), wantError: "cannot be parsed"},
		{name: "other block", in: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: []byte{1}}), wantError: "not a certificate"},
		{name: "trailing junk", in: append(pemOf(valid), []byte("garbage")...), wantError: "unreadable text"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			certs, err := ParseCA(tt.in, now)
			if tt.wantError == "" {
				if err != nil {
					t.Fatalf("ParseCA: %v", err)
				}
				if len(certs) != tt.wantN {
					t.Fatalf("got %d certificates, want %d", len(certs), tt.wantN)
				}
				return
			}
			var caErr *CAError
			if !errors.As(err, &caErr) {
				t.Fatalf("err = %v, want *CAError", err)
			}
			if !strings.Contains(caErr.Reason, tt.wantError) {
				t.Errorf("reason %q does not contain %q", caErr.Reason, tt.wantError)
			}
			if !strings.HasPrefix(err.Error(), "dbcheck: ca: ") {
				t.Errorf("error %q lacks the op prefix", err)
			}
		})
	}
}

func FuzzParseCA(f *testing.F) {
	now := time.Now()
	f.Add(pemOf(makeCert(f, true, now.Add(-time.Hour), now.Add(time.Hour))))
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"))
	f.Add([]byte{0x30, 0x82, 0x01})
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, in []byte) {
		certs, err := ParseCA(in, now)
		if err == nil && len(certs) == 0 {
			t.Fatal("no error and no certificates")
		}
		if err != nil {
			var caErr *CAError
			if !errors.As(err, &caErr) {
				t.Fatalf("error %T is not a *CAError", err)
			}
		}
	})
}
