package certcheck

import (
	"bytes"
	"crypto/elliptic"
	"crypto/x509"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/carto-setup/carto-setup/internal/check"
)

// maxCerts is the most certificates one Lint can hold after parsing: the
// certificate and chain fields at MaxPEMBlocks each.
const maxCerts = 2 * MaxPEMBlocks

// Work bounds asserted on every input. Scanning and parsing touch each
// input byte a fixed number of times (a DER key is tried in three formats);
// comparisons and signature checks depend only on the number of
// certificates, which MaxPEMBlocks bounds: at worst every certificate
// shares one subject and each step of the path tries all of them.
const (
	maxScannedPerByte = 1
	maxParsedPerByte  = 3
	maxCompares       = maxCerts*maxCerts + 6*maxCerts
	maxSignatures     = maxCerts*maxCerts + 2*maxCerts + 2
)

func checkWork(t testing.TB, in Input, m *meter) {
	t.Helper()
	size := len(in.CertPEM) + len(in.ChainPEM) + len(in.KeyPEM)
	switch {
	case m.scanned > maxScannedPerByte*size:
		t.Fatalf("scanned %d bytes of a %d-byte upload", m.scanned, size)
	case m.parsed > maxParsedPerByte*size:
		t.Fatalf("parsed %d bytes of a %d-byte upload", m.parsed, size)
	case m.compares > maxCompares:
		t.Fatalf("%d certificate comparisons, over %d", m.compares, maxCompares)
	case m.signatures > maxSignatures:
		t.Fatalf("%d signature checks, over %d", m.signatures, maxSignatures)
	}
}

// sameSubjectFlood returns n intermediates that all carry the issuer's name
// of leaf but are signed by unrelated keys: the shape that made the old
// chain builder cubic (every candidate matched by name, each a signature
// check, each membership test a scan of the path).
func sameSubjectFlood(t testing.TB, p *pki, n int) []byte {
	key := ecKey(t, elliptic.P256())
	var certs []*x509.Certificate
	for range n {
		certs = append(certs, sign(t, caTemplate("Test Intermediate CA", -1, 1), p.root, key.Public(), p.rootKey))
	}
	return certsPEM(certs...)
}

func TestLintRefusesTooManyBlocks(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	leaf, keyPEMBytes := p.leaf(t, leafOpts{})
	tooMany := sameSubjectFlood(t, p, MaxPEMBlocks)
	tests := []struct {
		name string
		in   Input
		id   string
		msg  string
	}{
		{"certificate field", Input{Domain: domain, CertPEM: append(certsPEM(leaf), tooMany...), KeyPEM: keyPEMBytes}, IDCertPEM,
			fmt.Sprintf("The certificate file holds more than %d PEM blocks", MaxPEMBlocks)},
		{"chain field", Input{Domain: domain, CertPEM: certsPEM(leaf), ChainPEM: append(tooMany, certsPEM(p.inter)...), KeyPEM: keyPEMBytes}, IDChainPEM,
			fmt.Sprintf("The chain file holds more than %d PEM blocks", MaxPEMBlocks)},
		{"key field", Input{Domain: domain, CertPEM: certsPEM(leaf, p.inter), KeyPEM: append(bytes.Repeat([]byte("-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n"), MaxPEMBlocks), keyPEMBytes...)}, IDKeyPEM,
			fmt.Sprintf("The key file holds more than %d PEM blocks", MaxPEMBlocks)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := &meter{}
			rep := lint(tt.in, testNow, p.roots, m)
			r, ok := find(rep, tt.id)
			if !ok || r.Status != check.Fail || !r.Fixed || !strings.Contains(r.Message, tt.msg) {
				t.Fatalf("%s = %+v, want a fixed failure saying %q", tt.id, r, tt.msg)
			}
			if rep.Usable() {
				t.Fatal("a refused upload produced nginx files")
			}
			checkWork(t, tt.in, m)
		})
	}

	// At the limit the upload is accepted and the chain still found among
	// the decoys.
	in := Input{Domain: domain, CertPEM: certsPEM(leaf), ChainPEM: append(sameSubjectFlood(t, p, MaxPEMBlocks-1), certsPEM(p.inter)...), KeyPEM: keyPEMBytes}
	m := &meter{}
	rep := lint(in, testNow, p.roots, m)
	if r, _ := find(rep, IDChain); r.Status != check.Pass {
		t.Fatalf("chain at the limit: %+v", r)
	}
	if r, _ := find(rep, IDChainOrder); !strings.Contains(r.Message, fmt.Sprintf("%d certificate(s) that are not part", MaxPEMBlocks-1)) {
		t.Fatalf("decoys not reported: %+v", r)
	}
	if !rep.Usable() || !bytes.Equal(rep.FullChainPEM, certsPEM(leaf, p.inter)) {
		t.Fatal("normalised chain is not leaf + intermediate")
	}
	checkWork(t, in, m)
	t.Logf("at the limit: %+v", *m)
}

// TestIssueUploadIsRefusedCheaply replays the 3,400-certificate upload of
// issue 20: it is refused after reading MaxPEMBlocks+1 blocks, with no
// certificate parsed.
func TestIssueUploadIsRefusedCheaply(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	leaf, keyPEMBytes := p.leaf(t, leafOpts{})
	block := certsPEM(p.inter)
	in := Input{Domain: domain, CertPEM: append(certsPEM(leaf), bytes.Repeat(block, 3400)...), KeyPEM: keyPEMBytes}
	m := &meter{}
	rep := lint(in, testNow, p.roots, m)
	if r, _ := find(rep, IDCertPEM); r.Status != check.Fail {
		t.Fatalf("3,400 certificates accepted: %+v", r)
	}
	if limit := len(certsPEM(leaf)) + MaxPEMBlocks*len(block); m.scanned > limit+len(in.KeyPEM) {
		t.Fatalf("scanned %d bytes, want at most the first %d blocks (%d bytes) and the key", m.scanned, MaxPEMBlocks+1, limit)
	}
	if m.parsed > len(in.KeyPEM) {
		t.Fatalf("parsed %d bytes of certificates before refusing", m.parsed)
	}
	checkWork(t, in, m)
}

// FuzzLint feeds arbitrary fields, seeded with real chains, through Lint
// and asserts the work bounds.
func FuzzLint(f *testing.F) {
	p := newPKI(f)
	leaf, keyPEMBytes := p.leaf(f, leafOpts{})
	flood := sameSubjectFlood(f, p, 4)
	f.Add(certsPEM(leaf), certsPEM(p.inter), keyPEMBytes)
	f.Add(certsPEM(leaf, p.inter, p.root), []byte(nil), keyPEMBytes)
	f.Add(append(certsPEM(p.inter, leaf), flood...), flood, keyPEMBytes)
	f.Add(leaf.Raw, []byte("junk"), []byte("-----BEGIN PRIVATE KEY-----\n-----END PRIVATE KEY-----\n"))
	f.Add(bytes.Repeat([]byte("-----BEGIN CERTIFICATE-----\n"), 50), bytes.Repeat(certsPEM(p.inter), MaxPEMBlocks+1), []byte(nil))
	f.Fuzz(func(t *testing.T, cert, chain, key []byte) {
		in := Input{Domain: domain, CertPEM: cert, ChainPEM: chain, KeyPEM: key}
		m := &meter{}
		lint(in, testNow, p.roots, m)
		checkWork(t, in, m)
	})
}

// BenchmarkLintScaling lints uploads growing 10x at a time, from a leaf
// alone to the 3,400 certificates of issue 20, and reports the cost per
// byte at each size and its ratio to the smallest. Uploads beyond
// MaxPEMBlocks are refused after reading that many blocks, so their cost
// per byte falls.
func BenchmarkLintScaling(b *testing.B) {
	p := newPKI(b)
	leaf, keyPEMBytes := p.leaf(b, leafOpts{})
	counts := []int{1, 10, 100, 1000, 3400}
	decoys := sameSubjectFlood(b, p, 1)
	inputs := make([]Input, len(counts))
	for i, n := range counts {
		chain := certsPEM(leaf)
		if n > 1 {
			chain = append(chain, bytes.Repeat(decoys, n-2)...)
			chain = append(chain, certsPEM(p.inter)...)
		}
		inputs[i] = Input{Domain: domain, CertPEM: chain, KeyPEM: keyPEMBytes}
	}
	perByte := make([]float64, len(counts))
	for b.Loop() {
		for i, in := range inputs {
			start := time.Now()
			Lint(in, testNow, p.roots)
			perByte[i] += float64(time.Since(start).Nanoseconds()) / float64(len(in.CertPEM)+len(in.KeyPEM))
		}
	}
	for i, n := range counts {
		b.ReportMetric(perByte[i]/float64(b.N), fmt.Sprintf("ns/B@%dcerts", n))
		if i > 0 {
			b.ReportMetric(perByte[i]/perByte[0], fmt.Sprintf("ratio@%dcerts", n))
		}
	}
}
