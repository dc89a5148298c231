package steps

import (
	"context"
	"crypto/rand"
	"fmt"

	"github.com/carto-setup/carto-setup/internal/cachecheck"
	"github.com/carto-setup/carto-setup/internal/check"
	"github.com/carto-setup/carto-setup/internal/dbcheck"
	"github.com/carto-setup/carto-setup/internal/redact"
	"github.com/carto-setup/carto-setup/internal/wizard"
)

// DatabaseDefaults are CARTO's defaults for the metadata PostgreSQL: the
// wizard's first visit shows them, and an answers file starts from them.
func DatabaseDefaults() wizard.DatabaseInput {
	return wizard.DatabaseInput{Mode: wizard.ModeExternal, Port: 5432, AdminUser: "postgres", AdminDatabase: "postgres",
		WorkspaceUser: "workspace_admin", WorkspaceDatabase: "workspace", SSL: true, SSLMode: dbcheck.SSLRequire}
}

// CacheDefaults are the cache's defaults: the embedded one.
func CacheDefaults() wizard.CacheInput {
	return wizard.CacheInput{Mode: wizard.ModeEmbedded, Port: 6379}
}

// DatabaseForm is the database step's input: the metadata PostgreSQL and
// the cache, which share the wizard's page. A headless check of one of
// them alone leaves the other nil, and it is neither checked nor changed.
type DatabaseForm struct {
	DB    *wizard.DatabaseInput
	Cache *wizard.CacheInput
}

// normalized returns the form as it will be stored: without SSL the SSL
// mode is "disable".
func (f DatabaseForm) normalized() DatabaseForm {
	if f.DB != nil {
		db := *f.DB
		if !db.SSL {
			db.SSLMode = dbcheck.SSLDisable
		}
		f.DB = &db
	}
	return f
}

// Validate checks the choices and ranges; the connection settings are
// checked by the database checker, whose "database.config" result turns
// into field errors (ConfigErrors).
func (f DatabaseForm) Validate() wizard.FieldErrors {
	errs := wizard.FieldErrors{}
	port := func(field string, p int) {
		if p < 0 || p > 65535 {
			errs.Add(field, fmt.Sprintf("Enter a port between 1 and 65535 (not %d).", p))
		}
	}
	// The passwords of the embedded database and cache are chosen for
	// CARTO, so they must be long enough to mask wherever they appear
	// (redact.MinChosenSecret); an external system's are what it has.
	chosen := func(field, value string) {
		if err := redact.CheckChosenSecret(value); err != nil {
			errs.Add(field, "Choose a longer password: "+err.Error()+".")
		}
	}
	if db := f.DB; db != nil {
		if db.Mode != wizard.ModeEmbedded && db.Mode != wizard.ModeExternal {
			errs.Add(wizard.FieldDBMode, "Choose an external PostgreSQL or the embedded database.")
		}
		port(dbcheck.FieldPort, db.Port)
		if db.Mode == wizard.ModeEmbedded {
			chosen(dbcheck.FieldAdminPassword, db.AdminPassword)
			chosen(FieldWorkspacePassword, db.WorkspacePassword)
		}
		switch db.SSLMode {
		case "", dbcheck.SSLDisable, dbcheck.SSLRequire, dbcheck.SSLVerifyCA, dbcheck.SSLVerifyFull:
		default:
			errs.Add(dbcheck.FieldSSLMode, fmt.Sprintf("Unknown SSL mode %q; use disable, require, verify-ca or verify-full.", db.SSLMode))
		}
	}
	if c := f.Cache; c != nil {
		if c.Mode != wizard.ModeEmbedded && c.Mode != wizard.ModeExternal {
			errs.Add(wizard.FieldCacheMode, "Choose the embedded cache or an external one.")
		}
		port(wizard.FieldCachePort, c.Port)
		if c.Mode == wizard.ModeEmbedded {
			chosen(FieldCachePassword, c.Password)
		}
	}
	return errs
}

// Fields of the database page that no checker names.
const (
	FieldWorkspacePassword = "workspace_password"
	FieldCachePassword     = "cache_password"
)

// DatabaseChecks checks an external PostgreSQL and an external cache with
// the TLS the stack will use; an embedded database only gets its warning.
// The smoke test runs the same checks again after the install.
func (s *Steps) DatabaseChecks(ctx context.Context, f DatabaseForm) []check.Result {
	var results []check.Result
	if db := f.DB; db != nil {
		if db.Mode == wizard.ModeEmbedded {
			results = append(results, check.Result{Step: "database", ID: "database.embedded", Status: check.Warn, Field: wizard.FieldDBMode,
				Measured: "embedded PostgreSQL", Required: "external PostgreSQL 14+",
				Message: "The embedded database is for debugging only: it is not for production use.",
				Hint:    "Use an external PostgreSQL 14 or later for anything you keep."})
		} else {
			cfg := dbcheck.Config{
				Host: db.Host, Port: db.Port, AdminUser: db.AdminUser, AdminPassword: db.AdminPassword, AdminDatabase: db.AdminDatabase,
				WorkspaceUser: db.WorkspaceUser, WorkspaceDatabase: db.WorkspaceDatabase, SSL: db.SSL, SSLMode: db.SSLMode, CAPEM: []byte(db.CAPEM),
			}
			if s.d.Containers != nil {
				cfg.Containers = s.d.Containers(ctx)
			}
			results = append(results, s.d.Database.Check(ctx, cfg)...)
		}
	}
	if c := f.Cache; c != nil && c.Mode == wizard.ModeExternal {
		for _, r := range s.d.Cache.Check(ctx, cachecheck.Config{Host: c.Host, Port: c.Port, Password: c.Password, TLS: c.TLS, CAPEM: []byte(c.CAPEM)}) {
			if r.Field != "" {
				r.Field = wizard.CacheFieldPrefix + r.Field // the cache's fields carry a prefix on the shared form
			}
			results = append(results, r)
		}
	}
	return results
}

// Database validates the form, checks the connections and saves the
// settings with the run. A form that fails validation, or whose settings
// the checker could not even try, is refused and nothing is saved. A
// changed setting clears the step's done mark.
func (s *Steps) Database(ctx context.Context, f DatabaseForm) (Outcome, error) {
	f = f.normalized()
	errs := f.Validate()
	var results []check.Result
	if len(errs) == 0 {
		results = s.DatabaseChecks(ctx, f)
		errs = ConfigErrors(results)
	}
	if len(errs) > 0 {
		st, err := s.store.Load()
		return Outcome{State: st, Errors: errs}, err
	}
	run := wizard.NewCheckRun(s.d.Now(), results)
	st, errs, err := s.save(func(st *wizard.State) wizard.FieldErrors {
		db, cache := st.Database, st.Cache
		if f.DB != nil {
			db = f.DB.OnlyMode()
		}
		if f.Cache != nil {
			cache = f.Cache.OnlyMode()
		}
		record(st, wizard.Database, run, st.Database != db || st.Cache != cache)
		st.Database, st.Cache = db, cache
		return s.settle(st, wizard.Database, run)
	})
	return Outcome{State: st, Run: run, Errors: errs}, err
}

// GenerateWorkspacePassword saves a strong random workspace password; CARTO
// uses it internally, so nobody needs to type it.
func (s *Steps) GenerateWorkspacePassword() (wizard.State, error) {
	pw := rand.Text() + rand.Text()
	return s.store.Update(func(st *wizard.State) error {
		st.Database.WorkspacePassword = pw
		return nil
	})
}
