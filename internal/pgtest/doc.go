// Package pgtest starts a throwaway PostgreSQL cluster for tests: a fresh
// initdb in a temporary directory, password (SCRAM) authentication, and
// optionally TLS with a certificate issued by a CA generated in the test. It
// also holds that small test CA, which other test-support packages reuse.
// When the server binaries are missing the test skips locally and fails under
// CI=true (see internal/testenv).
package pgtest
