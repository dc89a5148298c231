package dbcheck

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/carto-setup/carto-setup/internal/check"
)

// sessionChecks runs the read-only checks that need a logged-in session.
// Each query failure is reported on its own result and does not stop the
// others.
func sessionChecks(ctx context.Context, conn *pgx.Conn, cfg Config) []check.Result {
	var out []check.Result

	var num int
	var text string
	if err := conn.QueryRow(ctx, "SELECT current_setting('server_version_num')::int, current_setting('server_version')").Scan(&num, &text); err != nil {
		out = append(out, queryError(IDVersion, "", "the server version", err))
	} else {
		out = append(out, versionResult(num, text))
	}

	var p privileges
	err := conn.QueryRow(ctx, `SELECT r.rolname, r.rolsuper, r.rolcreaterole, r.rolcreatedb,
		ARRAY(SELECT g.rolname::text FROM pg_roles g
		      WHERE g.rolname = ANY($1) AND pg_has_role(r.oid, g.oid, 'MEMBER') ORDER BY 1)
		FROM pg_roles r WHERE r.rolname = current_user`, cloudAdminRoles()).
		Scan(&p.Name, &p.Super, &p.CreateRole, &p.CreateDB, &p.AdminRoles)
	if err != nil {
		out = append(out, queryError(IDPrivileges, FieldAdminUser, "the admin's privileges", err))
	} else {
		out = append(out, privilegesResult(p))
	}

	role, _ := StripServer(cfg.WorkspaceUser)
	var roleExists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)", role).Scan(&roleExists); err != nil {
		out = append(out, queryError(IDWorkspaceRole, FieldWorkspaceUser, "the workspace role", err))
	} else {
		out = append(out, workspaceRoleResult(role, roleExists, role == p.Name))
	}

	var dbEncoding, templateEncoding *string
	err = conn.QueryRow(ctx, `SELECT
		(SELECT pg_encoding_to_char(encoding) FROM pg_database WHERE datname = $1),
		(SELECT pg_encoding_to_char(encoding) FROM pg_database WHERE datname = 'template1')`, cfg.WorkspaceDatabase).
		Scan(&dbEncoding, &templateEncoding)
	if err != nil {
		out = append(out, queryError(IDWorkspaceDatabase, FieldWorkspaceDatabase, "the workspace database", err))
	} else {
		out = append(out, workspaceDatabaseResult(cfg.WorkspaceDatabase, dbEncoding != nil))
		out = append(out, encodingResult(cfg.WorkspaceDatabase, dbEncoding, templateEncoding))
	}

	var available bool
	var allowList *string
	err = conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'pgcrypto'),
		current_setting('azure.extensions', true)`).Scan(&available, &allowList)
	if err != nil {
		out = append(out, queryError(IDPgcrypto, "", "the available extensions", err))
	} else {
		out = append(out, pgcryptoResult(available, allowList))
	}
	return out
}

// queryError reports a check whose query failed. The driver text is not
// shown; the SQLSTATE class decides the wording.
func queryError(id, field, what string, err error) check.Result {
	ce := classify(err, false)
	msg := fmt.Sprintf("Could not read %s; the details are in the wizard's log.", what)
	if ce.Kind == NoPrivilege {
		msg = fmt.Sprintf("The admin user may not read %s.", what)
	}
	return result(id, field, check.Error, msg, "")
}

// versionResult compares server_version_num with CARTO's minimum.
func versionResult(num int, text string) check.Result {
	r := pass(IDVersion, "", fmt.Sprintf("PostgreSQL %s is supported.", text))
	if num < minVersionNum {
		r = fail(IDVersion, FieldHost, fmt.Sprintf("PostgreSQL %s is too old: CARTO needs PostgreSQL 14 or later.", text),
			"Upgrade the server, or point the wizard at a PostgreSQL 14+ server.")
	}
	r.Measured = text
	if major := num / 10000; major > 0 && !strings.HasPrefix(text, strconv.Itoa(major)) {
		r.Measured = fmt.Sprintf("%s (%d)", text, num)
	}
	r.Required = minVersionText
	return r
}

// privileges is what pg_roles says about the admin user.
type privileges struct {
	Name       string
	Super      bool
	CreateRole bool
	CreateDB   bool
	AdminRoles []string // the cloud admin roles it is a member of
}

// privilegesResult decides whether the admin can create the workspace role
// and database: a superuser can, so can a role with CREATEROLE and
// CREATEDB, and so can members of the managed services' admin roles.
func privilegesResult(p privileges) check.Result {
	const required = "SUPERUSER, or CREATEROLE and CREATEDB, or membership in " +
		"cloudsqlsuperuser / rds_superuser / azure_pg_admin"
	var r check.Result
	switch {
	case p.Super:
		r = pass(IDPrivileges, FieldAdminUser, fmt.Sprintf("%s is a superuser.", p.Name))
		r.Measured = "SUPERUSER"
	case p.CreateRole && p.CreateDB:
		r = pass(IDPrivileges, FieldAdminUser, fmt.Sprintf("%s can create roles and databases.", p.Name))
		r.Measured = "CREATEROLE, CREATEDB"
	case len(p.AdminRoles) > 0:
		r = pass(IDPrivileges, FieldAdminUser, fmt.Sprintf("%s is a member of %s.", p.Name, strings.Join(p.AdminRoles, ", ")))
		r.Measured = "member of " + strings.Join(p.AdminRoles, ", ")
	default:
		var has []string
		if p.CreateRole {
			has = append(has, "CREATEROLE")
		}
		if p.CreateDB {
			has = append(has, "CREATEDB")
		}
		var missing []string
		if !p.CreateRole {
			missing = append(missing, "CREATEROLE")
		}
		if !p.CreateDB {
			missing = append(missing, "CREATEDB")
		}
		r = fail(IDPrivileges, FieldAdminUser,
			fmt.Sprintf("%s cannot create the workspace role and database: it lacks %s.", p.Name, strings.Join(missing, " and ")),
			fmt.Sprintf("Use the service's admin user, or run as a superuser: ALTER ROLE %s %s;", quoteIdent(p.Name), strings.Join(missing, " ")))
		r.Measured = "none"
		if len(has) > 0 {
			r.Measured = strings.Join(has, ", ")
		}
	}
	r.Required = required
	return r
}

// workspaceRoleResult warns when the workspace role exists already: CARTO
// recommends letting its migrations create it.
func workspaceRoleResult(role string, exists, isAdmin bool) check.Result {
	switch {
	case isAdmin:
		r := result(IDWorkspaceRole, FieldWorkspaceUser, check.Warn,
			fmt.Sprintf("The workspace user %q is the admin user itself.", role),
			"Use a separate workspace user (CARTO's default is workspace_admin); the migrations create it.")
		r.Measured = "same as admin"
		return r
	case exists:
		r := result(IDWorkspaceRole, FieldWorkspaceUser, check.Warn,
			fmt.Sprintf("The role %q already exists. CARTO's migrations create the role only when it is missing, so they will use this role as it is, and CARTO will log in with the workspace password entered here.", role),
			"Continue only if this role belongs to CARTO and the password matches. Otherwise choose another workspace user name; CARTO advises not to create it by hand.")
		r.Measured = "exists"
		return r
	}
	r := pass(IDWorkspaceRole, FieldWorkspaceUser, fmt.Sprintf("The role %q does not exist yet; the migrations will create it.", role))
	r.Measured = "absent"
	return r
}

// workspaceDatabaseResult warns when the workspace database exists.
func workspaceDatabaseResult(db string, exists bool) check.Result {
	if exists {
		r := result(IDWorkspaceDatabase, FieldWorkspaceDatabase, check.Warn,
			fmt.Sprintf("The database %q already exists. CARTO's migrations will not create it again: they will run their schema migrations in it and keep the data it holds.", db),
			"Continue if this is an earlier CARTO install you mean to reuse (back it up first). Otherwise choose another workspace database name.")
		r.Measured = "exists"
		return r
	}
	r := pass(IDWorkspaceDatabase, FieldWorkspaceDatabase, fmt.Sprintf("The database %q does not exist yet; the migrations will create it.", db))
	r.Measured = "absent"
	return r
}

// encodingResult checks the workspace database's encoding, or, when it does
// not exist yet, template1's, which a new database inherits by default.
func encodingResult(db string, dbEncoding, templateEncoding *string) check.Result {
	var r check.Result
	switch {
	case dbEncoding != nil && *dbEncoding == "UTF8":
		r = pass(IDEncoding, FieldWorkspaceDatabase, fmt.Sprintf("The database %q uses UTF8.", db))
		r.Measured = *dbEncoding
	case dbEncoding != nil:
		r = fail(IDEncoding, FieldWorkspaceDatabase, fmt.Sprintf("The database %q uses %s; CARTO needs UTF8.", db, *dbEncoding),
			"Choose another workspace database name so the migrations create a new UTF8 database.")
		r.Measured = *dbEncoding
	case templateEncoding != nil && *templateEncoding != "UTF8":
		r = result(IDEncoding, FieldWorkspaceDatabase, check.Warn,
			fmt.Sprintf("New databases on this server default to %s (template1), not UTF8.", *templateEncoding),
			"Unless the migrations ask for UTF8 explicitly, the workspace database will not be UTF8. Create the cluster with UTF8, or ask the provider to.")
		r.Measured = *templateEncoding
	default:
		enc := "UTF8"
		if templateEncoding != nil {
			enc = *templateEncoding
		}
		r = pass(IDEncoding, FieldWorkspaceDatabase, "New databases on this server default to UTF8.")
		r.Measured = enc
	}
	r.Required = "UTF8"
	return r
}

// pgcryptoResult checks that pgcrypto can be installed. Azure Flexible
// Server lists every extension as available but only allows those in its
// azure.extensions setting.
func pgcryptoResult(available bool, azureAllowList *string) check.Result {
	if !available {
		r := fixed(fail(IDPgcrypto, "", "The pgcrypto extension is not available on this server.",
			"Install the PostgreSQL contrib package on the server (for example postgresql-contrib)."))
		r.Measured, r.Required = "not available", "available"
		return r
	}
	if azureAllowList != nil {
		allowed := slices.ContainsFunc(strings.Split(*azureAllowList, ","), func(s string) bool {
			return strings.EqualFold(strings.TrimSpace(s), "pgcrypto")
		})
		if !allowed {
			r := fixed(fail(IDPgcrypto, "", "pgcrypto is not in this Azure server's allow-list (azure.extensions).",
				"In the Azure portal open Server parameters, add PGCRYPTO to azure.extensions and save."))
			r.Measured, r.Required = "not allow-listed", "allow-listed"
			return r
		}
	}
	r := pass(IDPgcrypto, "", "The pgcrypto extension is available.")
	r.Measured, r.Required = "available", "available"
	return r
}

// quoteIdent quotes a role name for the SQL shown in hints.
func quoteIdent(s string) string {
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}
