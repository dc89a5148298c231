package acmeissue

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"golang.org/x/crypto/acme"
)

// LetsEncryptURL is the production directory of Let's Encrypt.
const LetsEncryptURL = acme.LetsEncryptURL

// LetsEncryptStagingURL is Let's Encrypt's staging directory: its
// certificates are not trusted, but its rate limits are generous.
const LetsEncryptStagingURL = "https://acme-staging-v02.api.letsencrypt.org/directory"

// DefaultTimeout bounds Obtain when its context has no deadline. Let's
// Encrypt usually validates within seconds; minutes mean it never will.
const DefaultTimeout = 3 * time.Minute

// Config says where and for what to obtain a certificate.
type Config struct {
	// DirectoryURL is the ACME directory, LetsEncryptURL in production.
	DirectoryURL string
	// Email is the account contact for expiry notices; it may be empty.
	Email string
	// Domain is the single name the certificate is for.
	Domain string
	// AcceptTOS records that the admin accepted the CA's terms of service.
	AcceptTOS bool
	// AccountKeyPEM is the persisted ACME account key (from NewAccountKey).
	// When empty, Obtain uses a throwaway key, which creates a new account
	// each time and counts against the CA's account limits.
	AccountKeyPEM []byte
	// HTTPClient talks to the CA; nil means http.DefaultClient. Tests set it
	// to trust Pebble's certificate.
	HTTPClient *http.Client
}

// NewAccountKey returns a new ECDSA P-256 ACME account key as PEM, for the
// caller to persist and pass in Config.AccountKeyPEM.
func NewAccountKey() ([]byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("acmeissue: account key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("acmeissue: account key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// Obtain registers (or finds) the ACME account, orders a certificate for
// cfg.Domain, answers the HTTP-01 challenge through responder and returns the
// full chain (leaf first) and a new ECDSA P-256 private key, both PEM. The
// context bounds the whole exchange, including the CA's validation
// (DefaultTimeout when it has no deadline). Failures the admin can act on are
// returned as *IssueError; the others are plain errors for the log.
func Obtain(ctx context.Context, cfg Config, responder Responder) (fullchainPEM, keyPEM []byte, err error) {
	if cfg.Domain == "" {
		return nil, nil, errors.New("acmeissue: obtain: empty domain")
	}
	if cfg.DirectoryURL == "" {
		return nil, nil, errors.New("acmeissue: obtain: empty directory URL")
	}
	if responder == nil {
		return nil, nil, errors.New("acmeissue: obtain: nil responder")
	}
	if _, ok := ctx.Deadline(); !ok {
		// A CA that leaves an authorization pending would otherwise keep
		// the wizard polling forever.
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultTimeout)
		defer cancel()
	}
	server := cfg.DirectoryURL
	if u, err := url.Parse(cfg.DirectoryURL); err == nil && u.Host != "" {
		server = u.Host
	}
	fail := func(st stage, err error) ([]byte, []byte, error) {
		return nil, nil, classify(st, cfg, server, err)
	}

	accountKey, err := loadAccountKey(cfg.AccountKeyPEM)
	if err != nil {
		return nil, nil, err
	}
	client := &acme.Client{
		Key:          accountKey,
		DirectoryURL: cfg.DirectoryURL,
		HTTPClient:   cfg.HTTPClient,
		UserAgent:    "carto-setup",
	}
	if _, err := client.Discover(ctx); err != nil {
		return fail(stageDirectory, err)
	}
	if !cfg.AcceptTOS {
		return nil, nil, &IssueError{Kind: KindTermsNotAccepted, Domain: cfg.Domain, Server: server,
			Err: errors.New("terms of service not accepted")}
	}
	acct := &acme.Account{}
	if cfg.Email != "" {
		acct.Contact = []string{"mailto:" + cfg.Email}
	}
	if _, err := client.Register(ctx, acct, acme.AcceptTOS); err != nil && !errors.Is(err, acme.ErrAccountAlreadyExists) {
		return fail(stageAccount, err)
	}

	order, err := client.AuthorizeOrder(ctx, acme.DomainIDs(cfg.Domain))
	if err != nil {
		return fail(stageOrder, err)
	}
	for _, authzURL := range order.AuthzURLs {
		if err := authorize(ctx, client, authzURL, responder); err != nil {
			return fail(stageChallenge, err)
		}
	}
	if _, err := client.WaitOrder(ctx, order.URI); err != nil {
		return fail(stageChallenge, err)
	}

	certKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("acmeissue: certificate key: %w", err)
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject:  pkix.Name{CommonName: cfg.Domain},
		DNSNames: []string{cfg.Domain},
	}, certKey)
	if err != nil {
		return nil, nil, fmt.Errorf("acmeissue: csr: %w", err)
	}
	ders, _, err := client.CreateCertFromOrder(ctx, order, csr, true)
	if err != nil {
		return fail(stageFinalize, err)
	}
	if len(ders) == 0 {
		return nil, nil, errors.New("acmeissue: finalize: the CA returned no certificate")
	}
	var chain bytes.Buffer
	for _, der := range ders {
		_ = pem.Encode(&chain, &pem.Block{Type: "CERTIFICATE", Bytes: der})
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(certKey)
	if err != nil {
		return nil, nil, fmt.Errorf("acmeissue: marshal key: %w", err)
	}
	return chain.Bytes(), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), nil
}

// authorize completes one authorization with its HTTP-01 challenge, unless
// the CA already holds a valid one for this account.
func authorize(ctx context.Context, client *acme.Client, authzURL string, responder Responder) error {
	authz, err := client.GetAuthorization(ctx, authzURL)
	if err != nil {
		return err
	}
	if authz.Status == acme.StatusValid {
		return nil
	}
	var chal *acme.Challenge
	for _, c := range authz.Challenges {
		if c.Type == "http-01" {
			chal = c
			break
		}
	}
	if chal == nil {
		return fmt.Errorf("the CA offers no http-01 challenge for %s", authz.Identifier.Value)
	}
	keyAuth, err := client.HTTP01ChallengeResponse(chal.Token)
	if err != nil {
		return err
	}
	if err := responder.Present(chal.Token, keyAuth); err != nil {
		return fmt.Errorf("present challenge: %w", err)
	}
	defer responder.CleanUp(chal.Token)
	if _, err := client.Accept(ctx, chal); err != nil {
		return err
	}
	_, err = client.WaitAuthorization(ctx, authz.URI)
	return err
}

func loadAccountKey(keyPEM []byte) (crypto.Signer, error) {
	if len(bytes.TrimSpace(keyPEM)) == 0 {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("acmeissue: account key: %w", err)
		}
		return key, nil
	}
	block, _ := pem.Decode(keyPEM)
	if block == nil {
		return nil, errors.New("acmeissue: account key: not PEM")
	}
	var (
		key any
		err error
	)
	switch block.Type {
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	default:
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	}
	if err != nil {
		return nil, fmt.Errorf("acmeissue: account key: %w", err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("acmeissue: account key: unsupported type %T", key)
	}
	return signer, nil
}

// NeedsRenewal reports whether the first certificate in certPEM expires
// within the given duration of now (or already has).
func NeedsRenewal(certPEM []byte, now time.Time, within time.Duration) (bool, error) {
	rest := certPEM
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return false, errors.New("acmeissue: needs renewal: no PEM certificate")
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return false, fmt.Errorf("acmeissue: needs renewal: %w", err)
		}
		return !now.Add(within).Before(cert.NotAfter), nil
	}
}
