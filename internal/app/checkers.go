package app

import (
	"context"

	"github.com/carto-setup/carto-setup/internal/cachecheck"
	"github.com/carto-setup/carto-setup/internal/check"
	"github.com/carto-setup/carto-setup/internal/dbcheck"
	"github.com/carto-setup/carto-setup/internal/preflight"
	"github.com/carto-setup/carto-setup/internal/server"
	"github.com/carto-setup/carto-setup/internal/wizard"
)

// checkers connects the steps' live checks to the real packages. The same
// functions serve the wizard and the headless `check` command.
func checkers(cfg Config, getenv func(string) string, dc *domainChecker, acme *acmeClient) server.Checkers {
	return server.Checkers{
		Domain:   dc.Check,
		NewNonce: dc.NewNonce,
		Database: databaseChecks,
		ACME:     acme.Obtain,
		Preflight: func(ctx context.Context) []check.Result {
			return preflight.Run(ctx, preflight.DefaultDeps(getenv), preflight.Config{ReleaseDir: cfg.Dir})
		},
	}
}

// databaseChecks checks an external PostgreSQL and an external cache with
// the TLS the stack will use; embedded ones only get their warning.
func databaseChecks(ctx context.Context, db wizard.DatabaseInput, cache wizard.CacheInput) []check.Result {
	var results []check.Result
	if db.Mode == wizard.ModeEmbedded {
		results = append(results, check.Result{Step: "database", ID: "database.embedded", Status: check.Warn, Field: "db_mode",
			Measured: "embedded PostgreSQL", Required: "external PostgreSQL 14+",
			Message: "The embedded database is for debugging only: it is not for production use.",
			Hint:    "Use an external PostgreSQL 14 or later for anything you keep."})
	} else {
		results = append(results, dbcheck.Run(ctx, dbcheck.Config{
			Host: db.Host, Port: db.Port, AdminUser: db.AdminUser, AdminPassword: db.AdminPassword, AdminDatabase: db.AdminDatabase,
			WorkspaceUser: db.WorkspaceUser, WorkspaceDatabase: db.WorkspaceDatabase, SSL: db.SSL, SSLMode: db.SSLMode, CAPEM: []byte(db.CAPEM),
		})...)
	}
	if cache.Mode == wizard.ModeExternal {
		for _, r := range cachecheck.Run(ctx, cachecheck.Config{Host: cache.Host, Port: cache.Port, Password: cache.Password, TLS: cache.TLS, CAPEM: []byte(cache.CAPEM)}) {
			if r.Field != "" {
				r.Field = "cache_" + r.Field // the cache's fields carry a prefix on the shared form
			}
			results = append(results, r)
		}
	}
	return results
}
