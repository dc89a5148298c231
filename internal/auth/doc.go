// Package auth proves that whoever uses the wizard controls the VM: a setup
// token of 160 random bits printed only on the VM, a server that keeps only
// its hash, signed session cookies that are valid only while their session
// is listed in the state directory (so sign-out, `carto-setup sessions` and
// a new token end them, across processes), and a per-address throttle and
// lockout for wrong tokens that a new token lifts. It knows nothing about
// HTTP routing; the server package turns its answers into responses.
package auth
