// Package renew renews the router's ACME certificate of an installed stack:
// when the certificate saved by the wizard (or the one in certs/) is close to
// its expiry, it stops router-http so port 80 is free, obtains a new
// certificate, writes certs/carto-router.crt and .key, updates the wizard
// state and starts router-http again. A failed renewal leaves the old
// certificate in place, on disk and in the state. It does not bind ports,
// talk to the CA or run Docker Compose itself: those come in as Deps, so
// carto-setup renew wires the real ones and tests pass fakes.
package renew
