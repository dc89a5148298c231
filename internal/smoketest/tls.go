package smoketest

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/carto-setup/carto-setup/internal/check"
	"github.com/carto-setup/carto-setup/internal/selfsigned"
)

// parseChain returns the certificates of a PEM chain in order.
func parseChain(chainPEM string) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	rest := []byte(chainPEM)
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, errors.New("no certificate in the configured chain")
	}
	return out, nil
}

func (cfg Config) httpsAddr() string {
	return net.JoinHostPort(cfg.Address, strconv.Itoa(cfg.HTTPSPort))
}

func (cfg Config) httpAddr() string {
	return net.JoinHostPort(cfg.Address, strconv.Itoa(cfg.HTTPPort))
}

// presented connects to the router with the domain as server name and
// returns the chain it presents, verifying nothing.
func presented(ctx context.Context, deps Deps, cfg Config) ([]*x509.Certificate, error) {
	raw, err := deps.Dial(ctx, "tcp", cfg.httpsAddr())
	if err != nil {
		return nil, err
	}
	defer raw.Close()
	conn := tls.Client(raw, &tls.Config{ServerName: cfg.Domain, InsecureSkipVerify: true, MinVersion: tls.VersionTLS12})
	if err := conn.HandshakeContext(ctx); err != nil {
		return nil, err
	}
	return conn.ConnectionState().PeerCertificates, nil
}

// isSelfIssued reports whether c signed itself, as the wizard's
// self-signed certificates and router-http's generated one do.
func isSelfIssued(c *x509.Certificate) bool {
	// CheckSignatureFrom would refuse a parent that is not a CA, which a
	// self-signed server certificate need not be.
	return bytes.Equal(c.RawIssuer, c.RawSubject) && c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature) == nil
}

// coversDomain checks that the presented certificate names the domain: a
// certificate left from before a domain change is the router serving the
// wrong install, whatever else matches. No override gets past it.
func coversDomain(leaf *x509.Certificate, cfg Config) check.Result {
	r := check.Result{Step: Step, ID: IDDomain, Required: cfg.Domain, Measured: certNames(leaf)}
	if err := leaf.VerifyHostname(cfg.Domain); err != nil {
		r.Status, r.Fixed = check.Fail, true
		r.Message = "The router's certificate does not cover " + cfg.Domain + ": it names " + r.Measured + "."
		r.Hint = "The router serves a certificate for another name, as after a domain change that did not renew it. Set the TLS certificate for " + cfg.Domain + " in the TLS step, apply, and run the smoke test again."
		return r
	}
	r.Status, r.Message = check.Pass, "The router's certificate covers "+cfg.Domain+"."
	return r
}

func certNames(c *x509.Certificate) string {
	names := append([]string{}, c.DNSNames...)
	for _, ip := range c.IPAddresses {
		names = append(names, ip.String())
	}
	if len(names) == 0 {
		return "no names (CN " + c.Subject.CommonName + " only)"
	}
	return strings.Join(names, ", ")
}

// certificate checks that the router presents exactly the installed
// certificate, byte for byte, that it covers the domain, and the complete
// chain in order.
func certificate(ctx context.Context, deps Deps, cfg Config) []check.Result {
	certRes := check.Result{Step: Step, ID: IDCertificate}
	chainRes := check.Result{Step: Step, ID: IDChain}
	where := "https://" + cfg.Domain + " (at " + cfg.httpsAddr() + ")"
	want, err := parseChain(cfg.CertPEM)
	if err != nil {
		certRes.Status, certRes.Measured = check.Error, "no configured certificate"
		certRes.Message = "The configured router certificate could not be read, so the presented one cannot be compared."
		certRes.Hint = "Go back to the TLS step and set the certificate again."
		return []check.Result{certRes}
	}
	certRes.Required = "SHA-256 " + selfsigned.Fingerprint(want[0].Raw)
	got, err := presented(ctx, deps, cfg)
	if err != nil {
		certRes.Status, certRes.Measured = check.Fail, "no TLS handshake"
		certRes.Message = "HTTPS on " + where + " did not complete a TLS handshake: " + netReason(err) + "."
		certRes.Hint = "Check that router-http is running and that its HTTPS port is published on this VM and not taken by another program."
		return []check.Result{certRes}
	}
	leaf := got[0]
	certRes.Measured = "SHA-256 " + selfsigned.Fingerprint(leaf.Raw)
	domainRes := coversDomain(leaf, cfg)
	if !bytes.Equal(leaf.Raw, want[0].Raw) {
		certRes.Status, certRes.Fixed = check.Fail, true
		certRes.Message = fmt.Sprintf("The router presents a different certificate (subject %q, issued by %q) from the one installed.",
			leaf.Subject.CommonName, leaf.Issuer.CommonName)
		certRes.Hint = "Something else answers on the HTTPS port, or router-http still serves an old certificate: check certs/ and ROUTER_SSL_* in .env, then restart router-http (docker-compose up -d)."
		return []check.Result{certRes, domainRes}
	}
	certRes.Status = check.Pass
	certRes.Message = "The router presents the installed certificate."
	if cfg.SelfSigned {
		certRes.Message = "The router presents the installed self-signed certificate; browsers will warn until it is replaced."
	}

	chainRes.Required = fmt.Sprintf("%d certificate(s), leaf first", len(want))
	chainRes.Measured = fmt.Sprintf("%d certificate(s)", len(got))
	complete := len(got) >= len(want)
	for i := 0; complete && i < len(want); i++ {
		complete = bytes.Equal(got[i].Raw, want[i].Raw)
	}
	if !complete {
		chainRes.Status = check.Fail
		chainRes.Message = fmt.Sprintf("The router presents %d of the %d certificates of the configured chain: clients that do not have the intermediates cannot verify it.", min(len(got), len(want)), len(want))
		chainRes.Hint = "Put the full chain (leaf first, then each intermediate) in the router certificate file and restart router-http."
		return []check.Result{certRes, domainRes, chainRes}
	}
	if cfg.SelfSigned {
		chainRes.Status, chainRes.Message = check.Pass, "A self-signed certificate is its own chain."
		return []check.Result{certRes, domainRes, chainRes}
	}
	inter := x509.NewCertPool()
	for _, c := range got[1:] {
		inter.AddCert(c)
	}
	// The names are IDDomain's to judge; the chain is judged on its own.
	if _, err := leaf.Verify(x509.VerifyOptions{Intermediates: inter, Roots: cfg.RootCAs}); err != nil {
		chainRes.Status = check.Fail
		chainRes.Message = "The presented chain does not verify: " + verifyReason(err) + "."
		chainRes.Hint = "Add the missing intermediate certificates after the leaf."
		return []check.Result{certRes, domainRes, chainRes}
	}
	chainRes.Status, chainRes.Message = check.Pass, "The presented chain is complete and verifies."
	return []check.Result{certRes, domainRes, chainRes}
}

func verifyReason(err error) string {
	var ua x509.UnknownAuthorityError
	var hn x509.HostnameError
	var ci x509.CertificateInvalidError
	switch {
	case errors.As(err, &ua):
		return "it does not lead to a trusted root (an intermediate is missing)"
	case errors.As(err, &hn):
		return "the certificate's names do not cover the domain"
	case errors.As(err, &ci):
		return "a certificate of the chain is expired or not valid for serving"
	}
	return "it is not valid"
}

// netReason names a connection failure without quoting raw error text.
func netReason(err error) string {
	var ne net.Error
	var op *net.OpError
	switch {
	case errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout():
		return "no answer before the timeout"
	case errors.As(err, &op) && op.Op == "dial":
		return "the connection was refused"
	case errors.As(err, new(tls.RecordHeaderError)):
		return "the port does not speak TLS"
	}
	return "the connection failed"
}
