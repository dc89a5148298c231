package app

import (
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/carto-setup/carto-setup/internal/atomicfile"
	"github.com/carto-setup/carto-setup/internal/hostid"
	"github.com/carto-setup/carto-setup/internal/selfsigned"
)

// wizardCertificate loads the wizard's own certificate from the state
// directory, creating a self-signed one on first start with the host's names
// and addresses as SANs. It returns the certificate and its SHA-256
// fingerprint, which the console prints so the admin can check what the
// browser shows.
func wizardCertificate(stateDir string, id hostid.Identity, now time.Time) (tls.Certificate, string, error) {
	dir := filepath.Join(stateDir, "tls")
	certPath, keyPath := filepath.Join(dir, "wizard.crt"), filepath.Join(dir, "wizard.key")
	if _, err := os.Stat(certPath); errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return tls.Certificate{}, "", fmt.Errorf("tls: %w", err)
		}
		certPEM, keyPEM, err := selfsigned.Generate(selfsigned.Request{
			CommonName: "carto-setup", DNSNames: id.Names, IPs: id.IPs, NotBefore: now, Validity: 825 * 24 * time.Hour,
		})
		if err != nil {
			return tls.Certificate{}, "", err
		}
		// The key first: a crash between the two writes leaves a key
		// without a certificate, which is regenerated, never the reverse.
		if err := atomicfile.WriteFile(keyPath, keyPEM, 0o600); err != nil {
			return tls.Certificate{}, "", err
		}
		if err := atomicfile.WriteFile(certPath, certPEM, 0o644); err != nil {
			return tls.Certificate{}, "", err
		}
	}
	cert, err := tls.LoadX509KeyPair(certPath, keyPath)
	if err != nil {
		return tls.Certificate{}, "", fmt.Errorf("tls: load wizard certificate (delete %s to regenerate it): %w", dir, err)
	}
	return cert, selfsigned.Fingerprint(cert.Certificate[0]), nil
}
