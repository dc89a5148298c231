package standin

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// migrationConfig is what workspace-migrations reads: the admin
// credentials that bootstrap the workspace role and database.
type migrationConfig struct {
	adminUser, adminPassword, adminDB string
	workspace                         postgres
}

// readMigrationConfig reads the admin block of carto-facts §3.2.
func readMigrationConfig(e *env, pg postgres) migrationConfig {
	c := migrationConfig{
		adminUser:     e.required("POSTGRES_ADMIN_USER"),
		adminPassword: e.required("POSTGRES_ADMIN_PASSWORD"),
		adminDB:       e.optional("POSTGRES_ADMIN_DB"),
		workspace:     pg,
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
// records a migration in a table of its own. It logs each step and returns
// the reason for any failure.
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
	steps := []struct{ name, sql string }{
		{"0001_standin_migrations", `CREATE TABLE IF NOT EXISTS standin_migrations (
			name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`},
		{"0002_standin_settings", `CREATE TABLE IF NOT EXISTS standin_settings (
			key text PRIMARY KEY, value text NOT NULL)`},
	}
	for _, s := range steps {
		if _, err := app.Exec(ctx, s.sql); err != nil {
			return fmt.Errorf("migrations: apply %s: %w", s.name, err)
		}
		tag, err := app.Exec(ctx, "INSERT INTO standin_migrations (name) VALUES ($1) ON CONFLICT DO NOTHING", s.name)
		if err != nil {
			return fmt.Errorf("migrations: record %s: %w", s.name, err)
		}
		if tag.RowsAffected() == 1 {
			lg.info("applied migration", "name", s.name)
		} else {
			lg.info("migration already applied", "name", s.name)
		}
	}
	lg.info("migrations finished; exiting with code 0")
	return nil
}
