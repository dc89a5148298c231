package tlsfail

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"testing"
)

// alert stands in for crypto/tls's unexported alert type: a uint8 kind.
type alert uint8

func (a alert) Error() string { return fmt.Sprintf("alert %d", uint8(a)) }

func TestClassify(t *testing.T) {
	remote := func(code uint8) error { return &net.OpError{Op: "remote error", Err: alert(code)} }
	for _, tc := range []struct {
		name  string
		err   error
		asked bool
		want  Kind
	}{
		{"name", fmt.Errorf("verify: %w", x509.HostnameError{Host: "db"}), false, NameMismatch},
		{"name pointer", &x509.HostnameError{Host: "db"}, false, NameMismatch},
		{"expired", x509.CertificateInvalidError{Reason: x509.Expired}, false, Expired},
		{"not a CA", x509.CertificateInvalidError{Reason: x509.NotAuthorizedToSign}, false, Failed},
		{"unknown CA", x509.UnknownAuthorityError{}, false, UnknownCA},
		{"certificate_required", remote(116), false, ClientCertRequired},
		{"handshake_failure after a request", remote(40), true, ClientCertRequired},
		{"handshake_failure", remote(40), false, Failed},
		{"plain text answer", tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}, false, NotTLS},
		{"not TLS at all", errors.New("connection refused"), false, Unknown},
	} {
		if got := Classify(tc.err, tc.asked); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}
