package app

import (
	"context"
	"log/slog"
	"os/exec"
	"time"

	"github.com/carto-setup/carto-setup/internal/buckets"
	"github.com/carto-setup/carto-setup/internal/cachecheck"
	"github.com/carto-setup/carto-setup/internal/check"
	"github.com/carto-setup/carto-setup/internal/dbcheck"
	"github.com/carto-setup/carto-setup/internal/preflight"
	"github.com/carto-setup/carto-setup/internal/server"
	"github.com/carto-setup/carto-setup/internal/steps"
	"github.com/carto-setup/carto-setup/internal/wizard"
)

// checkers connects the steps' live checks to the real packages. The same
// functions serve the wizard and the headless `check` command.
func checkers(cfg Config, getenv func(string) string, store wizard.Store, acme *acmeClient) server.Checkers {
	return server.Checkers{
		Database:        databaseChecks,
		ACME:            acme.Obtain,
		ValidateBuckets: func(in wizard.BucketsInput) map[string]string { return buckets.Validate(bucketsConfig(in)) },
		Buckets: func(ctx context.Context, in wizard.BucketsInput) []check.Result {
			return buckets.Run(ctx, bucketsConfig(in))
		},
		CORSFix: func(in wizard.BucketsInput, bucket string) string { return buckets.CORSFix(in.Mode, bucket) },
		Preflight: func(ctx context.Context) []check.Result {
			pc := preflight.Config{ReleaseDir: cfg.Dir}
			// Egress depends on the bucket provider chosen later; a re-run
			// after the buckets step checks that provider's endpoint too.
			if st, err := store.Load(); err == nil && st.Buckets.Mode != "" {
				pc.BucketProvider, pc.S3Region, pc.S3Endpoint, pc.AzureAccount = st.Buckets.Mode, st.Buckets.S3Region, st.Buckets.S3Endpoint, st.Buckets.AzureStorageAccount
			}
			return preflight.Run(ctx, preflight.DefaultDeps(getenv), pc)
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

// stepDeps connects the steps to the live checks.
func stepDeps(cfg Config, log *slog.Logger, now func() time.Time, lv *live) steps.Deps {
	return steps.Deps{ReleaseDir: cfg.Dir, Now: now, Log: log, Domain: lv.domain, ACME: lv.acme, ACMEDirectory: cfg.ACMEDirectory}
}

// bucketsConfig turns the wizard's buckets input into the checker's config.
func bucketsConfig(in wizard.BucketsInput) buckets.Config {
	return buckets.Config{
		Provider:   in.Mode,
		Imports:    buckets.Bucket{Name: in.Imports.Name, Public: in.Imports.Public},
		Thumbnails: buckets.Bucket{Name: in.Thumbnails.Name, Public: in.Thumbnails.Public},
		GCS:        buckets.GCS{ProjectID: in.GCSProjectID, KeyJSON: []byte(in.GCSKeyJSON)},
		S3:         buckets.S3{Region: in.S3Region, AccessKeyID: in.S3AccessKeyID, SecretAccessKey: in.S3SecretAccessKey, Endpoint: in.S3Endpoint, ForcePathStyle: in.S3Endpoint != ""},
		Azure:      buckets.Azure{StorageAccount: in.AzureStorageAccount, AccessKey: in.AzureAccessKey},
	}
}

// execLookPath finds executables on PATH.
var execLookPath = exec.LookPath
