// Package acmeissue obtains the router certificate from an ACME certificate
// authority (Let's Encrypt in production, Pebble in tests) and returns it as
// PEM files for CARTO's nginx. It uses the low-level golang.org/x/crypto/acme
// client with an HTTP-01 challenge rather than autocert: autocert issues on
// demand inside a TLS handshake and keeps certificates in its own cache, and
// it wants port 443, which the CARTO router owns once installed; a one-shot
// order whose challenge is answered by a pluggable Responder (the wizard on
// port 80, or a helper container) fits "write two files and start nginx".
// It does not write files, schedule renewals or bind ports: callers do.
package acmeissue
