// Package server is the wizard's HTTP side: routes, middleware (sessions,
// host allowlist, cross-origin protection, security headers) and one handler
// file per step that parses the form, calls the step (internal/steps) and
// renders or redirects. It builds every view model; it holds no check logic,
// no step rule and no global state.
package server
