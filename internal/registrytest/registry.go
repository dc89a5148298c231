package registrytest

import (
	"testing"

	"github.com/carto-setup/carto-setup/internal/ociregistry"
)

// Options configure a Registry.
type Options = ociregistry.Options

// Registry is a running in-process registry: an ociregistry.Server that
// the test stops at its end.
type Registry struct {
	*ociregistry.Server
}

// Start runs a registry on a free loopback port until the test ends.
func Start(t testing.TB, opts Options) *Registry {
	t.Helper()
	srv, err := ociregistry.Listen("127.0.0.1:0", opts)
	if err != nil {
		t.Fatalf("registrytest: %v", err)
	}
	t.Cleanup(func() { srv.Close() })
	return &Registry{Server: srv}
}

// Stop closes the listener and every open connection at once, the way a
// registry that goes away mid-transfer looks to a client. Safe to call
// twice.
func (r *Registry) Stop() { r.Close() }

// Restart serves the same content on the same address again after Stop.
func (r *Registry) Restart(t testing.TB) {
	t.Helper()
	if err := r.Reopen(); err != nil {
		t.Fatalf("registrytest: %v", err)
	}
}
