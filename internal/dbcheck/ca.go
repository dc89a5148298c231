package dbcheck

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"time"
)

// CAError says why an uploaded CA certificate was rejected. Reason is a
// sentence safe to show to the admin.
type CAError struct {
	Reason string
}

// Error prefixes the reason with the operation.
func (e *CAError) Error() string { return "dbcheck: ca: " + e.Reason }

// ParseCA parses one or more PEM certificates that the client is to trust.
// Each must be a CA certificate (BasicConstraints CA:TRUE) valid at now. A
// DER file, a private key, anything that is not PEM, and an empty upload are
// each rejected with their own *CAError.
func ParseCA(pemBytes []byte, now time.Time) ([]*x509.Certificate, error) {
	rest := bytes.TrimSpace(pemBytes)
	if len(rest) == 0 {
		return nil, &CAError{"The CA file is empty."}
	}
	var certs []*x509.Certificate
	for len(rest) > 0 {
		block, next := pem.Decode(rest)
		if block == nil {
			break
		}
		rest = bytes.TrimSpace(next)
		n := len(certs) + 1
		switch block.Type {
		case "CERTIFICATE":
		case "TRUSTED CERTIFICATE":
			return nil, &CAError{fmt.Sprintf("Block %d is an OpenSSL \"TRUSTED CERTIFICATE\"; convert it with: openssl x509 -in ca.crt -out ca.pem", n)}
		default:
			if bytes.Contains([]byte(block.Type), []byte("PRIVATE KEY")) {
				return nil, &CAError{"The file contains a private key. Upload only the CA certificate, and treat that key as exposed."}
			}
			return nil, &CAError{fmt.Sprintf("Block %d is a %q, not a certificate.", n, block.Type)}
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, &CAError{fmt.Sprintf("Certificate %d cannot be parsed as X.509.", n)}
		}
		if err := checkCA(cert, n, now); err != nil {
			return nil, err
		}
		certs = append(certs, cert)
	}
	if len(certs) == 0 {
		if len(pemBytes) > 0 && pemBytes[0] == 0x30 {
			return nil, &CAError{"The file is DER (binary), not PEM. Convert it with: openssl x509 -inform der -in ca.der -out ca.pem"}
		}
		return nil, &CAError{"The file is not a PEM certificate; expected text starting with -----BEGIN CERTIFICATE-----."}
	}
	if len(rest) > 0 {
		return nil, &CAError{fmt.Sprintf("The file has unreadable text after certificate %d.", len(certs))}
	}
	return certs, nil
}

func checkCA(cert *x509.Certificate, n int, now time.Time) error {
	name := cert.Subject.CommonName
	if name == "" {
		name = cert.Subject.String()
	}
	if !cert.BasicConstraintsValid || !cert.IsCA {
		return &CAError{fmt.Sprintf("Certificate %d (%q) is not a CA certificate. Upload the CA that issued the server certificate, not the server certificate itself.", n, name)}
	}
	if now.After(cert.NotAfter) {
		return &CAError{fmt.Sprintf("CA certificate %d (%q) expired on %s.", n, name, cert.NotAfter.UTC().Format(time.DateOnly))}
	}
	if now.Before(cert.NotBefore) {
		return &CAError{fmt.Sprintf("CA certificate %d (%q) is not valid before %s; check this VM's clock.", n, name, cert.NotBefore.UTC().Format(time.DateTime))}
	}
	return nil
}

// CAPool parses an uploaded CA bundle with ParseCA into a pool to verify a
// server against. On failure it returns a reason safe to show the admin.
func CAPool(pemBytes []byte, now time.Time) (*x509.CertPool, string) {
	certs, err := ParseCA(pemBytes, now)
	if err != nil {
		var caErr *CAError
		if errors.As(err, &caErr) {
			return nil, caErr.Reason
		}
		return nil, "The CA certificate cannot be used."
	}
	pool := x509.NewCertPool()
	for _, c := range certs {
		pool.AddCert(c)
	}
	return pool, ""
}
