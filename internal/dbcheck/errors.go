package dbcheck

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"syscall"

	"github.com/carto-setup/carto-setup/internal/tlsfail"

	"github.com/jackc/pgx/v5/pgconn"
)

// Kind is the class of a connection failure. Handlers map it to a message
// and a form field; the raw error stays in CheckError.Err for the log.
type Kind int

// The failure classes, roughly in the order a connection meets them.
const (
	Unknown            Kind = iota
	NotResolved             // the host name does not resolve
	Refused                 // nothing listens on host:port
	Unreachable             // no route to the host or network
	Timeout                 // no answer in time (firewall, authorized networks)
	Closed                  // the server closed the connection unexpectedly
	NoTLS                   // TLS requested but the server does not offer it
	UnknownCA               // server certificate not signed by the given CA
	NameMismatch            // server certificate does not name the host
	Expired                 // server certificate expired or not yet valid
	TLSFailed               // any other TLS failure
	ClientCertRequired      // the server wants a client certificate (mutual TLS)
	AuthFailed              // wrong user or password (28P01)
	NoHBAEntry              // pg_hba.conf has no entry for this client (28000)
	NoDatabase              // the database does not exist (3D000)
	NoPrivilege             // permission denied (42501)
	TooManyConnections      // the server is out of connection slots (53300)
	Unavailable             // the server is starting up or shutting down (57P03)
	TooOld                  // the server version is below the minimum
)

// String names the kind for logs.
func (k Kind) String() string {
	switch k {
	case NotResolved:
		return "not resolved"
	case Refused:
		return "refused"
	case Unreachable:
		return "unreachable"
	case Timeout:
		return "timeout"
	case Closed:
		return "closed"
	case NoTLS:
		return "no tls"
	case UnknownCA:
		return "unknown ca"
	case NameMismatch:
		return "name mismatch"
	case Expired:
		return "expired"
	case TLSFailed:
		return "tls failed"
	case ClientCertRequired:
		return "client cert required"
	case AuthFailed:
		return "auth failed"
	case NoHBAEntry:
		return "no hba entry"
	case NoDatabase:
		return "no database"
	case NoPrivilege:
		return "no privilege"
	case TooManyConnections:
		return "too many connections"
	case Unavailable:
		return "unavailable"
	case TooOld:
		return "too old"
	}
	return "unknown"
}

// CheckError is a classified check failure. Err is the underlying driver or
// network error: it may hold server text and belongs in logs, never in a
// page.
type CheckError struct {
	Kind Kind
	Err  error
}

// Error includes the raw error, so it is for logs, never for pages.
func (e *CheckError) Error() string {
	if e.Err == nil {
		return "dbcheck: " + e.Kind.String()
	}
	return "dbcheck: " + e.Kind.String() + ": " + e.Err.Error()
}

// Unwrap returns the underlying error.
func (e *CheckError) Unwrap() error { return e.Err }

// The SQLSTATE codes classify knows.
const (
	codeInvalidPassword    = "28P01"
	codeInvalidAuthSpec    = "28000"
	codeInvalidCatalog     = "3D000"
	codeInsufficientPriv   = "42501"
	codeTooManyConnections = "53300"
	codeCannotConnectNow   = "57P03"
)

// classify turns an error from connecting or querying into a *CheckError.
// clientCertAsked says whether the server requested a client certificate
// during the TLS handshake, which explains some otherwise generic failures.
func classify(err error, clientCertAsked bool) *CheckError {
	if err == nil {
		return nil
	}
	var ce *CheckError
	if errors.As(err, &ce) && ce == err {
		return ce
	}
	return &CheckError{Kind: furthest(err, clientCertAsked), Err: err}
}

// furthest classifies a failure. When a name resolves to several addresses
// pgx joins one error per address; the attempt that got furthest (say, TLS
// on 127.0.0.1 after ::1 refused) tells the real story.
func furthest(err error, clientCertAsked bool) Kind {
	var joined interface{ Unwrap() []error }
	if !errors.As(err, &joined) {
		return kindOf(err, clientCertAsked)
	}
	best := Unknown
	for _, e := range joined.Unwrap() {
		if k := furthest(e, clientCertAsked); stage(k) > stage(best) {
			best = k
		}
	}
	return best
}

// stage orders kinds by how far a connection got before failing.
func stage(k Kind) int {
	switch k {
	case Unknown:
		return 0
	case NotResolved:
		return 1
	case Refused, Unreachable:
		return 2
	case Timeout:
		return 3
	case Closed:
		return 4
	case NoTLS, UnknownCA, NameMismatch, Expired, TLSFailed:
		return 5
	}
	return 6
}

func kindOf(err error, clientCertAsked bool) Kind {
	var ce *CheckError
	if errors.As(err, &ce) {
		return ce.Kind
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgKind(pgErr, clientCertAsked)
	}
	if k := tlsKind(err, clientCertAsked); k != Unknown {
		return k
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		if dnsErr.IsTimeout {
			return Timeout
		}
		return NotResolved
	}
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return Refused
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return Unreachable
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded), pgconn.Timeout(err):
		return Timeout
	}
	var netErr net.Error
	if errors.As(err, &netErr) && netErr.Timeout() {
		return Timeout
	}
	if errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		if clientCertAsked {
			return ClientCertRequired
		}
		return Closed
	}
	return Unknown
}

// pgKind classifies an error the server sent. 28000 covers several causes,
// which only the message tells apart.
func pgKind(e *pgconn.PgError, clientCertAsked bool) Kind {
	switch e.Code {
	case codeInvalidPassword:
		return AuthFailed
	case codeInvalidAuthSpec:
		msg := strings.ToLower(e.Message)
		switch {
		case strings.Contains(msg, "pg_hba.conf"):
			return NoHBAEntry
		case strings.Contains(msg, "certificate"):
			return ClientCertRequired
		}
		return AuthFailed
	case codeInvalidCatalog:
		return NoDatabase
	case codeInsufficientPriv:
		return NoPrivilege
	case codeTooManyConnections:
		return TooManyConnections
	case codeCannotConnectNow:
		return Unavailable
	}
	return Unknown
}

// tlsKind maps a handshake failure to this package's kinds.
func tlsKind(err error, clientCertAsked bool) Kind {
	switch tlsfail.Classify(err, clientCertAsked) {
	case tlsfail.NameMismatch:
		return NameMismatch
	case tlsfail.Expired:
		return Expired
	case tlsfail.UnknownCA:
		return UnknownCA
	case tlsfail.ClientCertRequired:
		return ClientCertRequired
	case tlsfail.Failed:
		return TLSFailed
	case tlsfail.NotTLS:
		return TLSFailed
	}
	return Unknown
}
