// Package localca is a small certificate authority made on this machine for
// servers that carto-setup or its tests start themselves (test databases and
// caches, the demo's database): an ECDSA P-256 CA and the server or client
// certificates it issues, all PEM. It keeps nothing on disk, so callers
// store what they must reuse, and it must not stand in for a real CA.
package localca
