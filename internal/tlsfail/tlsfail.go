// Package tlsfail classifies why a TLS handshake with a server failed:
// the certificate's name, its dates, an unknown issuer, a server asking for
// a client certificate, or no TLS at all. The live checks of the database
// and the cache share it and turn its kinds into their own messages; it
// builds no message itself.
package tlsfail

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"reflect"
)

// Kind is why a handshake failed.
type Kind int

// The kinds of handshake failure. Failed is any other handshake or
// verification failure; Unknown means err is not a TLS failure at all.
const (
	Unknown Kind = iota
	NameMismatch
	Expired
	UnknownCA
	Failed
	ClientCertRequired
	NotTLS
)

// Classify returns the kind of a handshake error. clientCertAsked says the
// server sent a CertificateRequest, which turns an older server's
// handshake_failure or bad_certificate alert into ClientCertRequired.
func Classify(err error, clientCertAsked bool) Kind {
	var hostErr x509.HostnameError
	var hostErrP *x509.HostnameError
	if errors.As(err, &hostErr) || errors.As(err, &hostErrP) {
		return NameMismatch
	}
	var invalid x509.CertificateInvalidError
	if errors.As(err, &invalid) {
		if invalid.Reason == x509.Expired {
			return Expired
		}
		return Failed
	}
	var unknown x509.UnknownAuthorityError
	var unknownP *x509.UnknownAuthorityError
	if errors.As(err, &unknown) || errors.As(err, &unknownP) {
		return UnknownCA
	}
	var verifyErr *tls.CertificateVerificationError
	if errors.As(err, &verifyErr) {
		return Failed
	}
	if alert, ok := RemoteAlert(err); ok {
		// 116 is certificate_required (TLS 1.3); older servers send
		// handshake_failure (40) or bad_certificate (42).
		if alert == 116 || (clientCertAsked && (alert == 40 || alert == 42)) {
			return ClientCertRequired
		}
		return Failed
	}
	var recErr tls.RecordHeaderError
	if errors.As(err, &recErr) {
		return NotTLS
	}
	return Unknown
}

// RemoteAlert returns the TLS alert the server sent. crypto/tls reports it
// as a *net.OpError with Op "remote error" around an unexported uint8 alert
// type (tls.AlertError is used for QUIC only), so the code is read by kind.
func RemoteAlert(err error) (uint8, bool) {
	var ae tls.AlertError
	if errors.As(err, &ae) {
		return uint8(ae), true
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "remote error" && op.Err != nil {
		if v := reflect.ValueOf(op.Err); v.Kind() == reflect.Uint8 {
			return uint8(v.Uint()), true
		}
	}
	return 0, false
}
