package steps

import (
	"context"

	"github.com/carto-setup/carto-setup/internal/buckets"
	"github.com/carto-setup/carto-setup/internal/cachecheck"
	"github.com/carto-setup/carto-setup/internal/check"
	"github.com/carto-setup/carto-setup/internal/dbcheck"
	"github.com/carto-setup/carto-setup/internal/preflight"
)

// The live checks the steps run, one per outside system. Each takes the
// check package's own configuration, which the step builds from its input
// in one place; the app passes the check packages' Run functions through
// the Func adapters, and tests pass fakes the same way.

// PreflightChecker checks this host (preflight.Run).
type PreflightChecker interface {
	Check(ctx context.Context, cfg preflight.Config) []check.Result
}

// DatabaseChecker checks the metadata PostgreSQL (dbcheck.Run).
type DatabaseChecker interface {
	Check(ctx context.Context, cfg dbcheck.Config) []check.Result
}

// CacheChecker checks an external Redis or Valkey (cachecheck.Run).
type CacheChecker interface {
	Check(ctx context.Context, cfg cachecheck.Config) []check.Result
}

// BucketsChecker runs the buckets' round trip and CORS checks
// (buckets.Run).
type BucketsChecker interface {
	Check(ctx context.Context, cfg buckets.Config) []check.Result
}

// Issuer obtains a router certificate for domain from an ACME directory,
// answering the challenge on port 80. accountKey is reused when given and
// created otherwise; the one used is returned for the state to keep.
type Issuer interface {
	Obtain(ctx context.Context, domain, email, directory string, accountKey []byte) (certPEM, keyPEM, account []byte, err error)
}

// PreflightFunc adapts a function to PreflightChecker.
type PreflightFunc func(ctx context.Context, cfg preflight.Config) []check.Result

// Check calls f.
func (f PreflightFunc) Check(ctx context.Context, cfg preflight.Config) []check.Result {
	return f(ctx, cfg)
}

// DatabaseFunc adapts a function to DatabaseChecker.
type DatabaseFunc func(ctx context.Context, cfg dbcheck.Config) []check.Result

// Check calls f.
func (f DatabaseFunc) Check(ctx context.Context, cfg dbcheck.Config) []check.Result {
	return f(ctx, cfg)
}

// CacheFunc adapts a function to CacheChecker.
type CacheFunc func(ctx context.Context, cfg cachecheck.Config) []check.Result

// Check calls f.
func (f CacheFunc) Check(ctx context.Context, cfg cachecheck.Config) []check.Result {
	return f(ctx, cfg)
}

// BucketsFunc adapts a function to BucketsChecker.
type BucketsFunc func(ctx context.Context, cfg buckets.Config) []check.Result

// Check calls f.
func (f BucketsFunc) Check(ctx context.Context, cfg buckets.Config) []check.Result {
	return f(ctx, cfg)
}
