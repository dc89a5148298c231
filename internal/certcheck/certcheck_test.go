package certcheck

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/carto-setup/carto-setup/internal/check"
)

// testNow is the "current time" of every test: expiry logic never reads the
// clock.
var testNow = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

const domain = "carto.example.com"

// pki is a private test CA: a root, an intermediate it signed, and a pool that
// trusts only the root.
type pki struct {
	root, inter       *x509.Certificate
	rootKey, interKey crypto.Signer
	roots             *x509.CertPool
}

func newPKI(t testing.TB) *pki {
	t.Helper()
	p := &pki{rootKey: ecKey(t, elliptic.P256()), interKey: ecKey(t, elliptic.P256())}
	p.root = sign(t, caTemplate("Test Root CA", -5, 10), nil, p.rootKey.Public(), p.rootKey)
	p.inter = sign(t, caTemplate("Test Intermediate CA", -2, 5), p.root, p.interKey.Public(), p.rootKey)
	p.roots = x509.NewCertPool()
	p.roots.AddCert(p.root)
	return p
}

// caTemplate is a CA certificate named name, valid from years before
// testNow to years after.
func caTemplate(name string, from, to int) *x509.Certificate {
	return &x509.Certificate{
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             testNow.AddDate(from, 0, 0),
		NotAfter:              testNow.AddDate(to, 0, 0),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
}

// leafOpts describes a leaf; the zero value is a good certificate for domain.
type leafOpts struct {
	dns       []string
	noSAN     bool
	notBefore time.Time
	notAfter  time.Time
	key       crypto.Signer
	eku       []x509.ExtKeyUsage
}

// leaf returns a leaf signed by the intermediate, and its PKCS#8 key PEM.
func (p *pki) leaf(t testing.TB, o leafOpts) (*x509.Certificate, []byte) {
	t.Helper()
	if o.dns == nil && !o.noSAN {
		o.dns = []string{domain}
	}
	if o.notBefore.IsZero() {
		o.notBefore = testNow.AddDate(0, -1, 0)
	}
	if o.notAfter.IsZero() {
		o.notAfter = testNow.AddDate(0, 2, 0)
	}
	if o.key == nil {
		o.key = ecKey(t, elliptic.P256())
	}
	if o.eku == nil {
		o.eku = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	}
	c := sign(t, &x509.Certificate{
		Subject:     pkix.Name{CommonName: domain},
		DNSNames:    o.dns,
		NotBefore:   o.notBefore,
		NotAfter:    o.notAfter,
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: o.eku,
	}, p.inter, o.key.Public(), p.interKey)
	return c, keyPEM(t, o.key)
}

func sign(t testing.TB, tmpl, parent *x509.Certificate, pub crypto.PublicKey, signer crypto.Signer) *x509.Certificate {
	t.Helper()
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		t.Fatal(err)
	}
	tmpl.SerialNumber = serial
	if parent == nil {
		parent = tmpl
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
	if err != nil {
		t.Fatalf("create certificate: %v", err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func ecKey(t testing.TB, curve elliptic.Curve) crypto.Signer {
	t.Helper()
	k, err := ecdsa.GenerateKey(curve, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func keyPEM(t testing.TB, k crypto.Signer) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

func certsPEM(certs ...*x509.Certificate) []byte {
	var b bytes.Buffer
	for _, c := range certs {
		_ = pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	return b.Bytes()
}

func find(rep Report, id string) (check.Result, bool) {
	for _, r := range rep.Results {
		if r.ID == id {
			return r, true
		}
	}
	return check.Result{}, false
}

func TestLint(t *testing.T) {
	p := newPKI(t)
	good, goodKey := p.leaf(t, leafOpts{})
	_, otherKey := p.leaf(t, leafOpts{})

	rsaSmall, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	_, edPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	weakRSA, weakRSAKey := p.leaf(t, leafOpts{key: rsaSmall})
	ed, edKey := p.leaf(t, leafOpts{key: edPriv})
	p521, p521Key := p.leaf(t, leafOpts{key: ecKey(t, elliptic.P521())})
	other, otherDomainKey := p.leaf(t, leafOpts{dns: []string{"other.example.com"}})
	wild, wildKey := p.leaf(t, leafOpts{dns: []string{"*.example.com"}})
	cnOnly, cnOnlyKey := p.leaf(t, leafOpts{noSAN: true})
	expired, expiredKey := p.leaf(t, leafOpts{notBefore: testNow.AddDate(-1, 0, 0), notAfter: testNow.AddDate(0, 0, -1)})
	future, futureKey := p.leaf(t, leafOpts{notBefore: testNow.AddDate(0, 0, 2), notAfter: testNow.AddDate(0, 3, 0)})
	soon, soonKey := p.leaf(t, leafOpts{notAfter: testNow.AddDate(0, 0, 10)})
	client, clientKey := p.leaf(t, leafOpts{eku: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	ssCert, ssKey, _, err := SelfSigned(domain, testNow)
	if err != nil {
		t.Fatal(err)
	}

	// "openssl req -x509" marks its self-signed certificates as CAs.
	caLikeKey := ecKey(t, elliptic.P256())
	caLike := sign(t, &x509.Certificate{
		Subject:               pkix.Name{CommonName: domain},
		DNSNames:              []string{domain},
		NotBefore:             testNow.AddDate(0, -1, 0),
		NotAfter:              testNow.AddDate(1, 0, 0),
		IsCA:                  true,
		BasicConstraintsValid: true,
	}, nil, caLikeKey.Public(), caLikeKey)

	goodKeyBlock, _ := pem.Decode(goodKey)
	legacyEncrypted := pem.EncodeToMemory(&pem.Block{
		Type:    "RSA PRIVATE KEY",
		Headers: map[string]string{"Proc-Type": "4,ENCRYPTED", "DEK-Info": "AES-256-CBC,00112233445566778899AABBCCDDEEFF"},
		Bytes:   []byte("not really ciphertext"),
	})
	pkcs8Encrypted := pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: []byte("ciphertext")})

	tests := []struct {
		name   string
		in     Input
		roots  *x509.CertPool
		id     string
		status check.Status
		msg    string // substring of Message
		hint   string // substring of Hint
		fixed  bool   // a failure no override gets past; then nothing is usable
	}{
		{name: "good full chain in cert", in: Input{Domain: domain, CertPEM: certsPEM(good, p.inter), KeyPEM: goodKey},
			id: IDChain, status: check.Pass, msg: "complete"},
		{name: "good chain uploaded apart", in: Input{Domain: domain, CertPEM: certsPEM(good), ChainPEM: certsPEM(p.inter), KeyPEM: goodKey},
			id: IDChainOrder, status: check.Pass, msg: "in order"},
		{name: "not PEM", in: Input{Domain: domain, CertPEM: []byte("hello, world"), KeyPEM: goodKey},
			id: IDCertPEM, status: check.Fail, msg: "not a PEM certificate", hint: "openssl pkcs12", fixed: true},
		{name: "DER certificate", in: Input{Domain: domain, CertPEM: good.Raw, KeyPEM: goodKey},
			id: IDCertPEM, status: check.Fail, msg: "DER format", hint: "openssl x509 -inform der -in cert.der -out cert.pem", fixed: true},
		{name: "DER chain", in: Input{Domain: domain, CertPEM: certsPEM(good), ChainPEM: p.inter.Raw, KeyPEM: goodKey},
			id: IDChainPEM, status: check.Fail, msg: "DER format", hint: "openssl x509 -inform der", fixed: true},
		{name: "key in certificate field", in: Input{Domain: domain, CertPEM: goodKey, KeyPEM: goodKey},
			id: IDCertPEM, status: check.Fail, msg: "holds a private key", fixed: true},
		{name: "DER key", in: Input{Domain: domain, CertPEM: certsPEM(good, p.inter), KeyPEM: goodKeyBlock.Bytes},
			id: IDKeyPEM, status: check.Fail, msg: "DER format", hint: "openssl pkey -inform der", fixed: true},
		{name: "certificate in key field", in: Input{Domain: domain, CertPEM: certsPEM(good, p.inter), KeyPEM: certsPEM(good)},
			id: IDKeyPEM, status: check.Fail, msg: "holds a certificate", fixed: true},
		{name: "key does not match", in: Input{Domain: domain, CertPEM: certsPEM(good, p.inter), KeyPEM: otherKey},
			id: IDKeyMatch, status: check.Fail, msg: "does not match the certificate", hint: "openssl sha256", fixed: true},
		{name: "legacy encrypted key", in: Input{Domain: domain, CertPEM: certsPEM(good, p.inter), KeyPEM: legacyEncrypted},
			id: IDKeyPassphrase, status: check.Fail, msg: "protected by a passphrase", hint: "openssl rsa -in keyfile_with_passphrase.key -out new_keyfile.key", fixed: true},
		{name: "PKCS#8 encrypted key", in: Input{Domain: domain, CertPEM: certsPEM(good, p.inter), KeyPEM: pkcs8Encrypted},
			id: IDKeyPassphrase, status: check.Fail, msg: "protected by a passphrase", hint: "openssl rsa -in keyfile_with_passphrase.key -out new_keyfile.key", fixed: true},
		{name: "Ed25519 leaf", in: Input{Domain: domain, CertPEM: certsPEM(ed, p.inter), KeyPEM: edKey},
			id: IDKeyType, status: check.Fail, msg: "Ed25519"},
		{name: "RSA 1024 leaf", in: Input{Domain: domain, CertPEM: certsPEM(weakRSA, p.inter), KeyPEM: weakRSAKey},
			id: IDKeyType, status: check.Fail, msg: "1024 bits"},
		{name: "P-521 leaf", in: Input{Domain: domain, CertPEM: certsPEM(p521, p.inter), KeyPEM: p521Key},
			id: IDKeyType, status: check.Warn, msg: "P-521"},
		{name: "SAN does not cover domain", in: Input{Domain: domain, CertPEM: certsPEM(other, p.inter), KeyPEM: otherDomainKey},
			id: IDSAN, status: check.Fail, msg: "do not cover carto.example.com", hint: "*.example.com covers a.example.com", fixed: true},
		{name: "wildcard covers one label", in: Input{Domain: domain, CertPEM: certsPEM(wild, p.inter), KeyPEM: wildKey},
			id: IDSAN, status: check.Pass, msg: "as *.example.com"},
		{name: "wildcard does not cover apex", in: Input{Domain: "example.com", CertPEM: certsPEM(wild, p.inter), KeyPEM: wildKey},
			id: IDSAN, status: check.Fail, msg: "do not cover example.com", fixed: true},
		{name: "wildcard does not cover two labels", in: Input{Domain: "a.b.example.com", CertPEM: certsPEM(wild, p.inter), KeyPEM: wildKey},
			id: IDSAN, status: check.Fail, msg: "do not cover a.b.example.com", fixed: true},
		{name: "common name only", in: Input{Domain: domain, CertPEM: certsPEM(cnOnly, p.inter), KeyPEM: cnOnlyKey},
			id: IDSAN, status: check.Fail, msg: "no Subject Alternative Names", fixed: true},
		{name: "expired", in: Input{Domain: domain, CertPEM: certsPEM(expired, p.inter), KeyPEM: expiredKey},
			id: IDValidity, status: check.Fail, msg: "expired on"},
		{name: "not yet valid", in: Input{Domain: domain, CertPEM: certsPEM(future, p.inter), KeyPEM: futureKey},
			id: IDValidity, status: check.Fail, msg: "not valid yet"},
		{name: "expiring soon", in: Input{Domain: domain, CertPEM: certsPEM(soon, p.inter), KeyPEM: soonKey},
			id: IDExpiry, status: check.Warn, msg: "expires in 10 days"},
		{name: "intermediate missing", in: Input{Domain: domain, CertPEM: certsPEM(good), KeyPEM: goodKey},
			id: IDChain, status: check.Fail, msg: `the intermediate certificate "CN=Test Intermediate CA" that issued "CN=carto.example.com" is missing`},
		{name: "private root not trusted", in: Input{Domain: domain, CertPEM: certsPEM(good, p.inter, p.root), KeyPEM: goodKey},
			roots: x509.NewCertPool(), id: IDChain, status: check.Warn, msg: "not a publicly trusted root"},
		{name: "self-signed", in: Input{Domain: domain, CertPEM: ssCert, KeyPEM: ssKey},
			id: IDSelfSigned, status: check.Warn, msg: "self-signed"},
		{name: "self-signed marked as CA", in: Input{Domain: domain, CertPEM: certsPEM(caLike), KeyPEM: keyPEM(t, caLikeKey)},
			id: IDSelfSigned, status: check.Warn, msg: "browsers will warn"},
		{name: "chain out of order", in: Input{Domain: domain, CertPEM: certsPEM(p.inter, good), KeyPEM: goodKey},
			id: IDChainOrder, status: check.Pass, msg: "out of order and have been put in order"},
		{name: "unrelated and duplicate certificates", in: Input{Domain: domain, CertPEM: certsPEM(good, p.inter), ChainPEM: certsPEM(p.inter, other), KeyPEM: goodKey},
			id: IDChainOrder, status: check.Pass, msg: "1 certificate(s) that are not part of this certificate's chain were left out; 1 duplicate"},
		{name: "client-only EKU", in: Input{Domain: domain, CertPEM: certsPEM(client, p.inter), KeyPEM: clientKey},
			id: IDEKU, status: check.Fail, msg: "lacks serverAuth"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			roots := tt.roots
			if roots == nil {
				roots = p.roots
			}
			rep := Lint(tt.in, testNow, roots)
			got, ok := find(rep, tt.id)
			if !ok {
				t.Fatalf("no result %s; got %+v", tt.id, rep.Results)
			}
			if got.Status != tt.status {
				t.Errorf("%s status = %s, want %s (%s)", tt.id, got.Status, tt.status, got.Message)
			}
			if !strings.Contains(got.Message, tt.msg) {
				t.Errorf("%s message = %q, want it to contain %q", tt.id, got.Message, tt.msg)
			}
			if !strings.Contains(got.Hint, tt.hint) {
				t.Errorf("%s hint = %q, want it to contain %q", tt.id, got.Hint, tt.hint)
			}
			if got.Step != Step || got.Field == "" {
				t.Errorf("%s step/field = %q/%q", tt.id, got.Step, got.Field)
			}
			if got.Fixed != tt.fixed {
				t.Errorf("%s Fixed = %v, want %v", tt.id, got.Fixed, tt.fixed)
			}
			if rep.Usable() == tt.fixed {
				t.Errorf("Usable() = %v, want %v; results %+v", rep.Usable(), !tt.fixed, rep.Results)
			}
			for _, r := range rep.Results {
				if r.Status == check.Fail && tt.status != check.Fail {
					t.Errorf("unexpected failure %s: %s", r.ID, r.Message)
				}
			}
		})
	}
}

func TestLintNormalisesOutput(t *testing.T) {
	p := newPKI(t)
	leaf, key := p.leaf(t, leafOpts{})
	keyWithCert := append(append([]byte{}, key...), certsPEM(leaf)...)

	tests := []struct {
		name    string
		in      Input
		wantKey []byte
	}{
		{name: "out of order, key unchanged", in: Input{Domain: domain, CertPEM: certsPEM(p.inter, leaf), KeyPEM: key}, wantKey: key},
		{name: "key file with a certificate is re-encoded", in: Input{Domain: domain, CertPEM: certsPEM(leaf), ChainPEM: certsPEM(p.inter), KeyPEM: keyWithCert}, wantKey: key},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep := Lint(tt.in, testNow, p.roots)
			if !rep.Usable() {
				t.Fatalf("not usable: %+v", rep.Results)
			}
			if want := certsPEM(leaf, p.inter); !bytes.Equal(rep.FullChainPEM, want) {
				t.Errorf("FullChainPEM is not leaf then intermediate:\n%s", rep.FullChainPEM)
			}
			if !bytes.Equal(rep.KeyPEM, tt.wantKey) {
				t.Errorf("KeyPEM = %q, want %q", rep.KeyPEM, tt.wantKey)
			}
			if !rep.NotAfter.Equal(leaf.NotAfter) || rep.Issuer != "CN=Test Intermediate CA" || len(rep.Fingerprint) != 95 {
				t.Errorf("NotAfter/Issuer/Fingerprint = %v / %q / %q", rep.NotAfter, rep.Issuer, rep.Fingerprint)
			}
		})
	}
}

func TestMatchName(t *testing.T) {
	tests := []struct {
		pattern, host string
		want          bool
	}{
		{"carto.example.com", "carto.example.com", true},
		{"Carto.Example.com", "carto.example.COM.", true},
		{"*.example.com", "a.example.com", true},
		{"*.example.com", "example.com", false},
		{"*.example.com", "a.b.example.com", false},
		{"*.example.com", ".example.com", false},
		{"f*.example.com", "foo.example.com", false},
		{"*.com", "example.com", false},
		{"a.*.example.com", "a.b.example.com", false},
		{"other.example.com", "carto.example.com", false},
	}
	for _, tt := range tests {
		t.Run(tt.pattern+"/"+tt.host, func(t *testing.T) {
			if got := MatchName(tt.pattern, tt.host); got != tt.want {
				t.Errorf("MatchName(%q, %q) = %v, want %v", tt.pattern, tt.host, got, tt.want)
			}
		})
	}
}

func TestSelfSigned(t *testing.T) {
	certPEM, keyPEM, fp, err := SelfSigned(domain, testNow)
	if err != nil {
		t.Fatal(err)
	}
	rep := Lint(Input{Domain: domain, CertPEM: certPEM, KeyPEM: keyPEM}, testNow, x509.NewCertPool())
	if !rep.Usable() || rep.Fingerprint != fp {
		t.Fatalf("usable=%v fingerprint %q want %q; results %+v", rep.Usable(), rep.Fingerprint, fp, rep.Results)
	}
	if r, _ := find(rep, IDSAN); r.Status != check.Pass {
		t.Errorf("SAN: %+v", r)
	}
	if _, _, _, err := SelfSigned("", testNow); err == nil {
		t.Error("SelfSigned with an empty domain: want an error")
	}
}
