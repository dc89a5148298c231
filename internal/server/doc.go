// Package server is the wizard's HTTP side: routes, middleware (sessions,
// host allowlist, cross-origin protection, security headers) and one handler
// file per step. It turns domain packages' results into pages; it holds no
// check logic and no global state.
package server
