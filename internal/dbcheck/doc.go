// Package dbcheck checks an external PostgreSQL server the way the CARTO
// stack will use it: it connects as the admin with the configured TLS mode
// and CA, then reads the server version, the admin's privileges, whether the
// workspace role and database exist, and whether pgcrypto is available.
// It is read-only: it never creates roles or databases, which is the job of
// CARTO's workspace-migrations container.
package dbcheck
