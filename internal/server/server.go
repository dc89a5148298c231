package server

import (
	"context"
	"crypto/x509"

	"github.com/carto-setup/carto-setup/internal/check"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/carto-setup/carto-setup/internal/auth"
	"github.com/carto-setup/carto-setup/internal/steps"
	"github.com/carto-setup/carto-setup/internal/wizard"
)

// Deps are everything the handlers need, passed in by the app.
type Deps struct {
	Log      *slog.Logger
	Auth     *auth.Auth
	Throttle *auth.Throttle
	Store    wizard.Store
	Now      func() time.Time
	// HostNames are the names and addresses this wizard may be reached by
	// (the VM's host names and addresses, localhost); the configured domain
	// is added from the state. Any other Host header is refused, which
	// defeats DNS rebinding.
	HostNames []string
	// ReleaseDir is the carto-selfhosted checkout the wizard installs.
	ReleaseDir string
	// Installer plans and runs the install.
	Installer Installer
	// Smoke runs the smoke test and keeps the manual checklist; Bundle
	// builds the support bundle. Either may be nil: its pages then say
	// it is not available.
	Smoke  Smoker
	Bundle Bundler
	// Steps runs the steps' validation, checks and state changes, over
	// Store.
	Steps *steps.Steps
	// Checks run the live checks of the steps.
	Checks Checkers
	// RootCAs verifies uploaded certificate chains; nil means the system
	// roots.
	RootCAs *x509.CertPool
	// ACMEDirectory is the default ACME directory (Let's Encrypt), and
	// ACMETimeout bounds one issuance.
	ACMEDirectory string
	ACMETimeout   time.Duration
	// WriteWait bounds one websocket write; a client that does not take
	// a batch within it is cut off. Zero means 10 s.
	WriteWait time.Duration
	// SelfSigned is true while the wizard serves its self-signed
	// certificate; no HSTS is sent then.
	SelfSigned bool
}

// Checkers are the live checks the steps run, as functions so that
// handler tests can pass fakes and the app passes the real packages.
type Checkers struct {
	Preflight func(ctx context.Context) []check.Result
	// ACME obtains a certificate for domain, answering the challenge on
	// port 80; it returns the account key to keep for next time.
	ACME func(ctx context.Context, domain, email, directory string, accountKey []byte) (certPEM, keyPEM, account []byte, err error)
	// ValidateBuckets returns field problems of custom buckets; Buckets
	// runs the live round trip and CORS checks; CORSFix is the command
	// and configuration that gives a bucket the CORS rules CARTO needs.
	ValidateBuckets func(in wizard.BucketsInput) map[string]string
	Buckets         func(ctx context.Context, in wizard.BucketsInput) []check.Result
	CORSFix         func(in wizard.BucketsInput, bucket string) string
	// Database checks the metadata PostgreSQL and the cache as given.
	Database func(ctx context.Context, db wizard.DatabaseInput, cache wizard.CacheInput) []check.Result
}

// SessionCookie is the name of the session cookie; the __Host- prefix makes
// browsers insist on Secure, Path=/ and no Domain.
const SessionCookie = "__Host-carto-setup"

// hostAllowed reports whether a Host header (with or without port) names
// this wizard.
func (d *Deps) hostAllowed(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.ToLower(strings.Trim(host, "[]")), ".")
	if host == "" {
		return false
	}
	for _, n := range d.HostNames {
		if strings.EqualFold(n, host) {
			return true
		}
	}
	if st, err := d.Store.Load(); err == nil && st.Domain.Domain != "" && st.Domain.Domain == host {
		return true
	}
	return false
}

// NewHandler returns the wizard's complete HTTP handler.
func NewHandler(d Deps) http.Handler {
	return routes(&d)
}
