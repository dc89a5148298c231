package app

import (
	"context"

	"github.com/carto-setup/carto-setup/internal/check"
	"github.com/carto-setup/carto-setup/internal/preflight"
	"github.com/carto-setup/carto-setup/internal/server"
)

// checkers connects the steps' live checks to the real packages. The same
// functions serve the wizard and the headless `check` command.
func checkers(cfg Config, getenv func(string) string, dc *domainChecker) server.Checkers {
	return server.Checkers{
		Domain:   dc.Check,
		NewNonce: dc.NewNonce,
		Preflight: func(ctx context.Context) []check.Result {
			return preflight.Run(ctx, preflight.DefaultDeps(getenv), preflight.Config{ReleaseDir: cfg.Dir})
		},
	}
}
