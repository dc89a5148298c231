// Package redistest starts a throwaway redis-server for tests: a free port,
// a temporary directory, no persistence, and optionally a password and TLS
// with a certificate issued by a test CA. When redis-server is missing the
// test skips locally and fails under CI=true (see internal/testenv).
package redistest
