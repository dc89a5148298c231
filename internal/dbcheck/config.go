package dbcheck

import (
	"fmt"
	"strings"
)

// The SSL modes the wizard offers. They follow libpq: require encrypts
// without checking the certificate unless a CA is given (then it checks the
// chain, as libpq does when a root CA file exists), verify-ca checks the
// chain, and verify-full also checks the host name.
const (
	SSLDisable    = "disable"
	SSLRequire    = "require"
	SSLVerifyCA   = "verify-ca"
	SSLVerifyFull = "verify-full"
)

// The form field names results point at, so the wizard can render each
// failure next to its input.
const (
	FieldHost              = "host"
	FieldPort              = "port"
	FieldAdminUser         = "admin_user"
	FieldAdminPassword     = "admin_password"
	FieldAdminDatabase     = "admin_database"
	FieldWorkspaceUser     = "workspace_user"
	FieldWorkspaceDatabase = "workspace_database"
	FieldSSLMode           = "ssl_mode"
	FieldCA                = "ca"
)

// Config is what the database step collects. AdminDatabase defaults to
// "postgres" and WorkspaceUser and WorkspaceDatabase to CARTO's defaults
// when empty. VMAddress is optional: the address the database sees this VM
// as (its public IP behind NAT); timeouts name it in the hint, and fall back
// to the local address of the attempted connection. Containers is where
// CARTO's containers will connect from, named in the pg_hba.conf hint.
type Config struct {
	Host              string
	Port              int
	AdminUser         string
	AdminPassword     string
	AdminDatabase     string
	WorkspaceUser     string
	WorkspaceDatabase string
	SSL               bool
	SSLMode           string
	CAPEM             []byte
	VMAddress         string
	Containers        ContainerNetwork
}

// withDefaults fills the fields CARTO has defaults for.
func (c Config) withDefaults() Config {
	if c.AdminDatabase == "" {
		c.AdminDatabase = "postgres"
	}
	if c.WorkspaceUser == "" {
		c.WorkspaceUser = "workspace_admin"
	}
	if c.WorkspaceDatabase == "" {
		c.WorkspaceDatabase = "workspace"
	}
	if c.Port == 0 {
		c.Port = 5432
	}
	if !c.SSL {
		c.SSLMode = SSLDisable
	} else if c.SSLMode == "" || c.SSLMode == SSLDisable {
		c.SSLMode = SSLRequire
	}
	return c
}

// problem is one configuration mistake found before connecting.
type problem struct {
	field, message string
}

// validate returns the mistakes that make connecting pointless.
func (c Config) validate() []problem {
	var ps []problem
	if strings.TrimSpace(c.Host) == "" {
		ps = append(ps, problem{FieldHost, "Enter the database host name or IP address."})
	} else if strings.ContainsAny(c.Host, " /\\") {
		ps = append(ps, problem{FieldHost, "The host must be a name or an IP address, without a scheme, path or spaces."})
	}
	if c.Port < 1 || c.Port > 65535 {
		ps = append(ps, problem{FieldPort, fmt.Sprintf("The port must be between 1 and 65535 (got %d).", c.Port)})
	}
	if c.AdminUser == "" {
		ps = append(ps, problem{FieldAdminUser, "Enter the admin user."})
	}
	if c.AdminPassword == "" {
		ps = append(ps, problem{FieldAdminPassword, "Enter the admin password; CARTO's installer refuses an empty one."})
	}
	switch c.SSLMode {
	case SSLDisable, SSLRequire, SSLVerifyCA, SSLVerifyFull:
	default:
		ps = append(ps, problem{FieldSSLMode, fmt.Sprintf("Unknown SSL mode %q; use disable, require, verify-ca or verify-full.", c.SSLMode)})
	}
	return ps
}

// AzureUsers holds the extra variables CARTO needs when logins carry
// Azure Single Server's "@server" suffix: POSTGRES_LOGIN_USER is the admin
// user and WORKSPACE_POSTGRES_INTERNAL_USER the workspace user, both without
// the suffix.
type AzureUsers struct {
	PostgresLoginUser             string
	WorkspacePostgresInternalUser string
}

// AzureLogins derives the Azure variables from the admin and workspace
// users. It reports false when neither name has an "@server" suffix, in
// which case the variables must stay unset.
func AzureLogins(adminUser, workspaceUser string) (AzureUsers, bool) {
	login, ok1 := StripServer(adminUser)
	internal, ok2 := StripServer(workspaceUser)
	if !ok1 && !ok2 {
		return AzureUsers{}, false
	}
	return AzureUsers{PostgresLoginUser: login, WorkspacePostgresInternalUser: internal}, true
}

// StripServer removes an Azure "@server" suffix from a login name and
// reports whether there was one. Only the last "@" counts, and a name that
// starts or ends with "@" is left alone.
func StripServer(login string) (string, bool) {
	i := strings.LastIndex(login, "@")
	if i <= 0 || i == len(login)-1 {
		return login, false
	}
	return login[:i], true
}
