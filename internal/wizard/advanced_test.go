package wizard

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/carto-setup/carto-setup/internal/selfsigned"
)

func TestAdvancedValidate(t *testing.T) {
	ca := testCA(t)
	leaf, leafKey, err := selfsigned.Generate(selfsigned.Request{CommonName: "leaf.example.com", DNSNames: []string{"leaf.example.com"}, NotBefore: time.Now(), Validity: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	good := AdvancedInput{
		HTTPProxy: "http://proxy.internal:3128", HTTPSProxy: "http://proxy.internal:3128", GRPCProxy: "http://10.0.0.5:3128",
		NoProxy: "localhost,127.0.0.1,.internal.example.com,10.0.0.0/8", ExtraCAPEM: string(ca),
		GoogleMapsAPIKey:      "AIzaSyD-FAKE-0123456789abcdefghij",
		BigQueryOAuthClientID: "123456789012-abc123def456.apps.googleusercontent.com", BigQueryOAuthClientSecret: "GOCSPX-fake-secret_0123",
		Extra: []AdvancedVar{{Key: "IFRAME_ALLOWED_DOMAINS", Value: "https://a.example.com https://b.example.com"},
			{Key: "MAPS_API_V3_POSTGRES_POOL_SIZE", Value: "20"}, {Key: "AT_TOKENLESS_DEFAULT_TOKEN", Value: "s3cr3t'with quote", Secret: true}},
	}
	if errs := good.Validate(); len(errs) != 0 {
		t.Fatalf("Validate(good) = %v", errs)
	}
	tests := []struct {
		name   string
		change func(*AdvancedInput)
		field  string
	}{
		{"proxy without scheme", func(a *AdvancedInput) { a.HTTPSProxy = "proxy:3128" }, "https_proxy"},
		{"proxy with credentials", func(a *AdvancedInput) { a.HTTPProxy = "http://user:pw@proxy:3128" }, "http_proxy"},
		{"proxy with path", func(a *AdvancedInput) { a.GRPCProxy = "http://proxy:3128/x" }, "grpc_proxy"},
		{"proxy bad port", func(a *AdvancedInput) { a.HTTPProxy = "http://proxy:99999" }, "http_proxy"},
		{"no_proxy with spaces", func(a *AdvancedInput) { a.NoProxy = "localhost, 127.0.0.1" }, "no_proxy"},
		{"ca bundle with a private key", func(a *AdvancedInput) { a.ExtraCAPEM = string(ca) + string(leafKey) }, "extra_ca_pem"},
		{"ca bundle with a leaf", func(a *AdvancedInput) { a.ExtraCAPEM = string(leaf) }, "extra_ca_pem"},
		{"ca bundle garbage", func(a *AdvancedInput) { a.ExtraCAPEM = "not a certificate" }, "extra_ca_pem"},
		{"maps key with quote", func(a *AdvancedInput) { a.GoogleMapsAPIKey = "AIza'0123456789abcdefghij" }, "google_maps_api_key"},
		{"oauth id shape", func(a *AdvancedInput) { a.BigQueryOAuthClientID = "my-client" }, "bigquery_oauth_client_id"},
		{"oauth id without secret", func(a *AdvancedInput) { a.BigQueryOAuthClientSecret = "" }, "bigquery_oauth_client_secret"},
		{"oauth secret without id", func(a *AdvancedInput) { a.BigQueryOAuthClientID = "" }, "bigquery_oauth_client_id"},
		{"oauth secret unquotable", func(a *AdvancedInput) { a.BigQueryOAuthClientSecret = "a'b$c" }, "bigquery_oauth_client_secret"},
		{"extra key invalid", func(a *AdvancedInput) { a.Extra[0].Key = "1BAD" }, ExtraField(0, false)},
		{"extra key of a field", func(a *AdvancedInput) { a.Extra[1].Key = "https_proxy" }, ExtraField(1, false)},
		{"extra key twice", func(a *AdvancedInput) { a.Extra[1].Key = a.Extra[0].Key }, ExtraField(1, false)},
		{"extra value with ${}", func(a *AdvancedInput) { a.Extra[0].Value = "${HOME}" }, ExtraField(0, true)},
		{"extra value with a line break", func(a *AdvancedInput) { a.Extra[2].Value = "a\nB=evil" }, ExtraField(2, true)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := good
			a.Extra = slices.Clone(good.Extra)
			tt.change(&a)
			errs := a.Validate()
			if _, ok := errs[tt.field]; !ok || len(errs) != 1 {
				t.Errorf("Validate() = %v, want one error on %s", errs, tt.field)
			}
			for _, msg := range errs {
				if strings.Contains(msg, "s3cr3t") || strings.Contains(msg, "GOCSPX") {
					t.Errorf("a message shows a secret: %q", msg)
				}
			}
		})
	}
	if got := good.Secrets(); !slices.Equal(got, []string{good.GoogleMapsAPIKey, good.BigQueryOAuthClientSecret, "s3cr3t'with quote"}) {
		t.Errorf("Secrets() = %v", got)
	}
}

// testCA returns a self-signed CA certificate in PEM.
func testCA(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Proxy CA"},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}
