package pgtest

import (
	"testing"
	"time"

	"github.com/carto-setup/carto-setup/internal/localca"
)

// CA is a certificate authority made for one test (see internal/localca).
// PEM is its certificate, which is what a client is given to trust the
// servers it issues for.
type CA struct {
	*localca.CA
}

// Leaf says which certificate Issue makes. Hosts are DNS names or IP
// addresses; a zero NotBefore or NotAfter means one hour ago or one day from
// now, so a test can ask for an expired certificate by setting NotAfter in the
// past.
type Leaf = localca.Leaf

// NewCA generates a fresh ECDSA P-256 CA valid from an hour ago for a day.
func NewCA(t testing.TB) *CA {
	t.Helper()
	now := time.Now()
	ca, err := localca.New("carto-setup test CA "+t.Name(), now.Add(-time.Hour), now.Add(24*time.Hour))
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	return &CA{ca}
}

// Issue signs a new leaf certificate and returns it and its PKCS#8 key,
// both PEM-encoded.
func (ca *CA) Issue(t testing.TB, leaf Leaf) (certPEM, keyPEM []byte) {
	t.Helper()
	certPEM, keyPEM, err := ca.CA.Issue(leaf)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	return certPEM, keyPEM
}
