package server

import (
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
	// Installer plans and runs the install.
	Installer Installer
	// Smoke runs the smoke test and keeps the manual checklist; Bundle
	// builds the support bundle. Either may be nil: its pages then say
	// it is not available.
	Smoke  Smoker
	Bundle Bundler
	// Upgrade plans and runs upgrades and restores; nil: the Upgrade and
	// History pages say they are not available.
	Upgrade Upgrader
	// Images is the Images panel (offline bundles); nil means none.
	Images ImagesPanel
	// Steps runs the steps' validation, checks and state changes, over
	// Store.
	Steps *steps.Steps
	// ACMEDirectory is the default ACME directory the TLS page offers.
	ACMEDirectory string
	// WriteWait bounds one websocket write; a client that does not take
	// a batch within it is cut off. Zero means 10 s.
	WriteWait time.Duration
	// SelfSigned is true while the wizard serves its self-signed
	// certificate; no HSTS is sent then.
	SelfSigned bool
	// Logs is the project's live and kept logs for the Logs page; nil
	// means the wizard keeps none (the page says so).
	Logs ProjectLogs
	// Refusals counts refused requests for a summary line; nil logs one
	// warning per refusal.
	Refusals Refusals
	// Status reads the running install for the Status page; nil shows
	// the page without services.
	Status StatusReader

	drafts *drafts
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
