package standin

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/carto-setup/carto-setup/internal/installsh"
)

// migrationConfig is what workspace-migrations reads: the admin
// credentials that bootstrap the workspace role and database.
type migrationConfig struct {
	adminUser, adminPassword, adminDB string
	workspace                         postgres
	release                           string // CARTO_SELFHOSTED_VERSION: which migrations this image ships
}

// readMigrationConfig reads the admin block of carto-facts §3.2.
func readMigrationConfig(e *env, pg postgres) migrationConfig {
	c := migrationConfig{
		adminUser:     e.required("POSTGRES_ADMIN_USER"),
		adminPassword: e.required("POSTGRES_ADMIN_PASSWORD"),
		adminDB:       e.optional("POSTGRES_ADMIN_DB"),
		workspace:     pg,
		// Read directly: the identity block already reports it missing.
		release: e.getenv("CARTO_SELFHOSTED_VERSION"),
	}
	if c.adminDB == "" {
		c.adminDB = "postgres"
	}
	return c
}

// connString builds a libpq URL with the configured sslmode and CA, so pgx
// applies the same TLS rules libpq would.
func connString(pg postgres, user, password, db string) string {
	q := url.Values{}
	q.Set("sslmode", pg.SSLMode)
	if pg.SSLCA != "" {
		q.Set("sslrootcert", pg.SSLCA)
	}
	q.Set("connect_timeout", "10")
	q.Set("application_name", "carto-standin-workspace-migrations")
	u := url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword(user, password),
		Host:     net.JoinHostPort(pg.Host, strconv.Itoa(pg.Port)),
		Path:     "/" + db,
		RawQuery: q.Encode(),
	}
	return u.String()
}

// quoteLiteral quotes s as an SQL string literal; CREATE ROLE cannot take
// the password as a bind parameter.
func quoteLiteral(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// migrate plays workspace-migrations: as the admin it creates the workspace
// role and database when they are missing, then as the workspace role it
// brings the schema to the version its release ships, refusing a database
// that a newer release has migrated. It logs each step and returns the
// reason for any failure.
func migrate(ctx context.Context, c migrationConfig, lg *logger) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	ws := c.workspace
	lg.info("connecting to PostgreSQL as the admin", "host", ws.Host, "port", ws.Port, "user", c.adminUser,
		"database", c.adminDB, "sslmode", ws.SSLMode, "sslrootcert", ws.SSLCA)
	admin, err := pgx.Connect(ctx, connString(ws, c.adminUser, c.adminPassword, c.adminDB))
	if err != nil {
		return fmt.Errorf("migrations: connect to %s:%d as %s: %w", ws.Host, ws.Port, c.adminUser, err)
	}
	defer admin.Close(context.WithoutCancel(ctx))
	var version string
	var super, ssl bool
	err = admin.QueryRow(ctx, `SELECT current_setting('server_version'),
		(SELECT rolsuper FROM pg_roles WHERE rolname = current_user),
		COALESCE((SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()), false)`).Scan(&version, &super, &ssl)
	if err != nil {
		return fmt.Errorf("migrations: server version: %w", err)
	}
	lg.info("connected", "server_version", version, "admin_is_superuser", super, "tls", ssl)

	role := pgx.Identifier{ws.User}.Sanitize()
	var exists bool
	if err := admin.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)", ws.User).Scan(&exists); err != nil {
		return fmt.Errorf("migrations: look up role %s: %w", ws.User, err)
	}
	if exists {
		if _, err := admin.Exec(ctx, "ALTER ROLE "+role+" WITH LOGIN PASSWORD "+quoteLiteral(ws.Password)); err != nil {
			return fmt.Errorf("migrations: update role %s: %w", ws.User, err)
		}
		lg.info("role already exists; password brought in line with WORKSPACE_POSTGRES_PASSWORD", "role", ws.User)
	} else {
		if _, err := admin.Exec(ctx, "CREATE ROLE "+role+" WITH LOGIN PASSWORD "+quoteLiteral(ws.Password)); err != nil {
			return fmt.Errorf("migrations: create role %s: %w", ws.User, err)
		}
		lg.info("created role", "role", ws.User)
	}
	if !super {
		// Before PostgreSQL 16 a CREATEROLE admin must be a member of a role
		// to make it a database owner.
		if _, err := admin.Exec(ctx, "GRANT "+role+" TO CURRENT_USER"); err != nil {
			lg.warn("could not grant the workspace role to the admin", "role", ws.User, "error", err.Error())
		}
	}

	if err := admin.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", ws.DB).Scan(&exists); err != nil {
		return fmt.Errorf("migrations: look up database %s: %w", ws.DB, err)
	}
	if exists {
		lg.info("database already exists", "database", ws.DB)
	} else {
		if _, err := admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{ws.DB}.Sanitize()+" OWNER "+role); err != nil {
			return fmt.Errorf("migrations: create database %s: %w", ws.DB, err)
		}
		lg.info("created database", "database", ws.DB, "owner", ws.User)
	}

	lg.info("connecting as the workspace role", "user", ws.User, "database", ws.DB)
	app, err := pgx.Connect(ctx, connString(ws, ws.User, ws.Password, ws.DB))
	if err != nil {
		return fmt.Errorf("migrations: connect to database %s as %s: %w", ws.DB, ws.User, err)
	}
	defer app.Close(context.WithoutCancel(ctx))
	if err := applyMigrations(ctx, app, c.release, lg); err != nil {
		return err
	}
	lg.info("migrations finished; exiting with code 0")
	return nil
}

// schemaMigrations are the stand-in's schema migrations, in order, each
// with the first release that ships it ("" for every release). A release
// applies those it ships; the number it ships is its schema version.
var schemaMigrations = []struct{ name, since, sql string }{
	{"0001_standin_migrations", "", `CREATE TABLE IF NOT EXISTS standin_migrations (
		name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`},
	{"0002_standin_settings", "", `CREATE TABLE IF NOT EXISTS standin_settings (
		key text PRIMARY KEY, value text NOT NULL)`},
	// 2026.8.11 is the newer stand-in release (release.NewerVersion).
	{"0003_standin_workflows", "2026.8.11", `CREATE TABLE IF NOT EXISTS standin_workflows (
		id bigserial PRIMARY KEY, name text NOT NULL, created_at timestamptz NOT NULL DEFAULT now())`},
}

// ships reports whether release ships a migration first shipped in since,
// in install.sh's `sort -V` order (so 2026.8.11-rc.1 counts as 2026.8.11).
func ships(release, since string) bool {
	return since == "" || installsh.CompareVersions(release, since) >= 0
}

// SchemaVersion returns the schema version the stand-in workspace-migrations
// of release brings the database to.
func SchemaVersion(release string) int {
	n := 0
	for _, m := range schemaMigrations {
		if ships(release, m.since) {
			n++
		}
	}
	return n
}

// errNewerSchema marks the refusal to run against a newer database.
var errNewerSchema = errors.New("the database schema is newer than this release")

// applyMigrations brings the schema to the version release ships, in one
// transaction that holds the schema row locked, and records that version
// and the release in standin_schema. Like CARTO's, the migrations are
// forward-only: a database already at a higher version (written by a newer
// release) is refused, and nothing is changed.
func applyMigrations(ctx context.Context, app *pgx.Conn, release string, lg *logger) error {
	want := SchemaVersion(release)
	tx, err := app.Begin(ctx)
	if err != nil {
		return fmt.Errorf("migrations: begin: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS standin_schema (
		singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
		version integer NOT NULL, release text NOT NULL, updated_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return fmt.Errorf("migrations: create standin_schema: %w", err)
	}
	var have int
	var by string
	err = tx.QueryRow(ctx, "SELECT version, release FROM standin_schema FOR UPDATE").Scan(&have, &by)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("migrations: read the schema version: %w", err)
	}
	lg.info("schema version", "database", have, "written_by", by, "this_release", release, "ships", want)
	if have > want {
		return fmt.Errorf("migrations: %w: the database is at schema version %d, written by release %s, and release %s only knows up to %d; "+
			"migrations are forward-only: restore the database backup taken before the upgrade to %s, or install %s or newer again",
			errNewerSchema, have, by, release, want, by, by)
	}
	for i, m := range schemaMigrations {
		if !ships(release, m.since) {
			continue
		}
		if _, err := tx.Exec(ctx, m.sql); err != nil {
			return fmt.Errorf("migrations: apply %s: %w", m.name, err)
		}
		tag, err := tx.Exec(ctx, "INSERT INTO standin_migrations (name) VALUES ($1) ON CONFLICT DO NOTHING", m.name)
		if err != nil {
			return fmt.Errorf("migrations: record %s: %w", m.name, err)
		}
		if tag.RowsAffected() == 1 {
			lg.info("applied migration", "name", m.name, "schema_version", i+1)
		} else {
			lg.info("migration already applied", "name", m.name)
		}
	}
	if _, err := tx.Exec(ctx, `INSERT INTO standin_schema (version, release) VALUES ($1, $2)
		ON CONFLICT (singleton) DO UPDATE SET version = $1, release = $2, updated_at = now()`, want, release); err != nil {
		return fmt.Errorf("migrations: record the schema version: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("migrations: commit: %w", err)
	}
	lg.info("schema is at version", "version", want, "release", release)
	return nil
}
