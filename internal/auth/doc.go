// Package auth proves that whoever uses the wizard controls the VM: a setup
// token of 160 random bits printed only on the VM, a server that keeps only
// its hash, signed session cookies that a new token invalidates, and a
// per-address throttle and lockout for wrong tokens. It knows nothing about
// HTTP routing; the server package turns its answers into responses.
package auth
