package app

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/carto-setup/carto-setup/internal/acmeissue"
	"github.com/carto-setup/carto-setup/internal/config"
)

// acmeClient obtains router certificates over HTTP-01, answering the
// challenge on the wizard's port-80 listener.
type acmeClient struct {
	port80     *port80
	challenges *acmeissue.HTTPResponder
	client     *http.Client
}

func newACME(cfg config.Config, p80 *port80, challenges *acmeissue.HTTPResponder) (*acmeClient, error) {
	c := &acmeClient{port80: p80, challenges: challenges, client: &http.Client{Timeout: 30 * time.Second}}
	if cfg.ACMECAFile != "" {
		pemBytes, err := os.ReadFile(cfg.ACMECAFile)
		if err != nil {
			return nil, fmt.Errorf("--acme-ca-file: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pemBytes) {
			return nil, fmt.Errorf("--acme-ca-file: %s holds no PEM certificate", cfg.ACMECAFile)
		}
		c.client.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	}
	return c, nil
}

// Obtain issues a certificate for domain; accountKey is reused when given
// and created otherwise, and returned so the state can keep it.
func (c *acmeClient) Obtain(ctx context.Context, domain, email, directory string, accountKey []byte) ([]byte, []byte, []byte, error) {
	if len(accountKey) == 0 {
		k, err := acmeissue.NewAccountKey()
		if err != nil {
			return nil, nil, nil, err
		}
		accountKey = k
	}
	if err := c.port80.Ensure(ctx); err != nil {
		return nil, nil, nil, fmt.Errorf("acme: port 80: %w", err)
	}
	certPEM, keyPEM, err := acmeissue.Obtain(ctx, acmeissue.Config{
		DirectoryURL: directory, Email: email, Domain: domain, AcceptTOS: true, AccountKeyPEM: accountKey, HTTPClient: c.client,
	}, c.challenges)
	return certPEM, keyPEM, accountKey, err
}
