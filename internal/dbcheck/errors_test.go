package dbcheck

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

func TestClassify(t *testing.T) {
	pgErr := func(code, msg string) error {
		return fmt.Errorf("wrapped: %w", &pgconn.PgError{Severity: "FATAL", Code: code, Message: msg})
	}
	opErr := func(errno syscall.Errno) error {
		return &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", errno)}
	}
	tests := []struct {
		name            string
		err             error
		clientCertAsked bool
		want            Kind
	}{
		{"wrong password", pgErr("28P01", `password authentication failed for user "x"`), false, AuthFailed},
		{"no hba entry", pgErr("28000", `no pg_hba.conf entry for host "10.0.0.1", user "x", database "y", no encryption`), false, NoHBAEntry},
		{"client cert", pgErr("28000", "connection requires a valid client certificate"), true, ClientCertRequired},
		{"other 28000", pgErr("28000", `role "x" is not permitted to log in`), false, AuthFailed},
		{"no database", pgErr("3D000", `database "nope" does not exist`), false, NoDatabase},
		{"no privilege", pgErr("42501", "permission denied for database"), false, NoPrivilege},
		{"too many", pgErr("53300", "sorry, too many clients already"), false, TooManyConnections},
		{"starting", pgErr("57P03", "the database system is starting up"), false, Unavailable},
		{"other sqlstate", pgErr("XX000", "internal"), false, Unknown},
		{"dns", &net.DNSError{Err: "no such host", Name: "x.invalid", IsNotFound: true}, false, NotResolved},
		{"dns timeout", &net.DNSError{Err: "i/o timeout", Name: "x", IsTimeout: true}, false, Timeout},
		{"refused", opErr(syscall.ECONNREFUSED), false, Refused},
		{"host unreachable", opErr(syscall.EHOSTUNREACH), false, Unreachable},
		{"net unreachable", opErr(syscall.ENETUNREACH), false, Unreachable},
		{"deadline", fmt.Errorf("x: %w", context.DeadlineExceeded), false, Timeout},
		{"io timeout", &net.OpError{Op: "read", Err: os.ErrDeadlineExceeded}, false, Timeout},
		{"reset", opErr(syscall.ECONNRESET), false, Closed},
		{"eof", fmt.Errorf("read: %w", io.EOF), false, Closed},
		{"eof after cert request", fmt.Errorf("read: %w", io.ErrUnexpectedEOF), true, ClientCertRequired},
		{"unknown ca", &tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}, false, UnknownCA},
		{"unknown ca bare", fmt.Errorf("x: %w", x509.UnknownAuthorityError{}), false, UnknownCA},
		{"name mismatch", x509.HostnameError{Host: "db"}, false, NameMismatch},
		{"expired", x509.CertificateInvalidError{Reason: x509.Expired}, false, Expired},
		{"other invalid", x509.CertificateInvalidError{Reason: x509.NotAuthorizedToSign}, false, TLSFailed},
		{"cert required alert", tls.AlertError(116), false, ClientCertRequired},
		{"handshake failure after request", tls.AlertError(40), true, ClientCertRequired},
		{"handshake failure", tls.AlertError(40), false, TLSFailed},
		{"remote alert over tcp", &net.OpError{Op: "remote error", Err: fakeAlert(116)}, false, ClientCertRequired},
		{"not tls", tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}, false, TLSFailed},
		{"passthrough", fmt.Errorf("dial: %w", &CheckError{Kind: NoTLS}), false, NoTLS},
		{"unknown", errors.New("boom"), false, Unknown},
		{"furthest attempt wins", fmt.Errorf("connect: %w", errors.Join(opErr(syscall.ECONNREFUSED), x509.HostnameError{})), false, NameMismatch},
		{"furthest attempt wins, reversed", errors.Join(&CheckError{Kind: NoTLS}, opErr(syscall.ECONNREFUSED)), false, NoTLS},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := classify(tt.err, tt.clientCertAsked)
			if got.Kind != tt.want {
				t.Errorf("kind = %v, want %v", got.Kind, tt.want)
			}
			if !errors.Is(got, tt.err) {
				t.Errorf("CheckError does not wrap the original error")
			}
		})
	}
	if classify(nil, false) != nil {
		t.Error("classify(nil) is not nil")
	}
}

func TestKindString(t *testing.T) {
	for k := Unknown; k <= TooOld; k++ {
		if k.String() == "" || (k != Unknown && k.String() == "unknown") {
			t.Errorf("kind %d has no name", k)
		}
	}
	if Kind(99).String() != "unknown" {
		t.Error("out-of-range kind")
	}
}

// fakeAlert stands in for crypto/tls's unexported alert type.
type fakeAlert uint8

func (a fakeAlert) Error() string { return fmt.Sprintf("tls alert %d", uint8(a)) }
