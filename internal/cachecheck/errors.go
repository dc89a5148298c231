package cachecheck

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"syscall"

	"github.com/carto-setup/carto-setup/internal/tlsfail"
)

// Kind is the class of a cache check failure.
type Kind int

// The failure classes, roughly in the order a connection meets them.
const (
	Unknown              Kind = iota
	NotResolved               // the host name does not resolve
	Refused                   // nothing listens on host:port
	Unreachable               // no route to the host or network
	Timeout                   // no answer in time
	Closed                    // the server closed the connection (often: it expects TLS)
	NotTLS                    // TLS requested but the server answered in plain text
	UnknownCA                 // server certificate not signed by the given CA
	NameMismatch              // server certificate does not name the host
	Expired                   // server certificate expired or not yet valid
	TLSFailed                 // any other TLS failure
	ClientCertRequired        // the server wants a client certificate
	NoAuth                    // the server requires a password and none was sent
	WrongPassword             // AUTH rejected
	NoPasswordConfigured      // a password was sent but the server has none
	Denied                    // protected mode refuses remote clients
	Unavailable               // the server is loading its data set
	NotRedis                  // the reply is not RESP
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
	case NotTLS:
		return "not tls"
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
	case NoAuth:
		return "no auth"
	case WrongPassword:
		return "wrong password"
	case NoPasswordConfigured:
		return "no password configured"
	case Denied:
		return "denied"
	case Unavailable:
		return "unavailable"
	case NotRedis:
		return "not redis"
	}
	return "unknown"
}

// CheckError is a classified failure. Err is the underlying error, for the
// log only.
type CheckError struct {
	Kind Kind
	Err  error
}

// Error includes the raw error, so it is for logs, never for pages.
func (e *CheckError) Error() string {
	if e.Err == nil {
		return "cachecheck: " + e.Kind.String()
	}
	return "cachecheck: " + e.Kind.String() + ": " + e.Err.Error()
}

// Unwrap returns the underlying error.
func (e *CheckError) Unwrap() error { return e.Err }

// classify turns an error into a *CheckError. clientCertAsked says whether
// the server requested a client certificate during the handshake.
func classify(err error, clientCertAsked bool) *CheckError {
	if err == nil {
		return nil
	}
	var ce *CheckError
	if errors.As(err, &ce) {
		return ce
	}
	return &CheckError{Kind: kindOf(err, clientCertAsked), Err: err}
}

func kindOf(err error, clientCertAsked bool) Kind {
	var se *ServerError
	if errors.As(err, &se) {
		return serverKind(se)
	}
	if errors.Is(err, errProtocol) {
		return NotRedis
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
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded):
		return Timeout
	}
	var netErr net.Error
	if errors.As(err, &netErr) && netErr.Timeout() {
		return Timeout
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		if clientCertAsked {
			return ClientCertRequired
		}
		return Closed
	}
	return Unknown
}

// serverKind classifies an error reply by its prefix and, for the generic
// ERR, by the wording Redis 5 to 7 and Valkey use.
func serverKind(e *ServerError) Kind {
	msg := strings.ToLower(e.Message)
	switch e.Prefix {
	case "NOAUTH":
		return NoAuth
	case "WRONGPASS":
		return WrongPassword
	case "DENIED":
		return Denied
	case "LOADING":
		return Unavailable
	case "ERR":
		switch {
		case strings.Contains(msg, "invalid password"), strings.Contains(msg, "invalid username-password"):
			return WrongPassword
		case strings.Contains(msg, "without any password configured"), strings.Contains(msg, "no password is set"):
			return NoPasswordConfigured
		}
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
		return NotTLS
	}
	return Unknown
}
