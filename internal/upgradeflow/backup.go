package upgradeflow

import (
	"context"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/carto-setup/carto-setup/internal/backup"
	"github.com/carto-setup/carto-setup/internal/deploy"
	"github.com/carto-setup/carto-setup/internal/engine"
	"github.com/carto-setup/carto-setup/internal/envfile"
)

// embeddedService is the embedded database's Compose service, whose
// container has PostgreSQL's client tools.
const embeddedService = "workspace-postgres"

// containerCerts is where the stack mounts certs/ (carto-facts §3.1).
const containerCerts = "/usr/src/certs/"

// dbTarget is how the metadata database is reached for a backup, read from
// the .env the stack runs with: from this host (an external database), or
// from inside the embedded database's container.
type dbTarget struct {
	host      *backup.Conn
	container *backup.Container
	embedded  bool
}

// conn is the connection a restore command uses.
func (t dbTarget) conn() backup.Conn {
	if t.host != nil {
		return *t.host
	}
	if t.container != nil {
		return t.container.Conn
	}
	return backup.Conn{}
}

// databaseTarget reads the database settings of the .env in dir. The CA a
// container reads under /usr/src/certs/ is read by the host from certs/.
func databaseTarget(ctx context.Context, eng *engine.Client, dir, project string) (dbTarget, error) {
	b, err := os.ReadFile(filepath.Join(dir, deploy.DotEnvFile))
	if err != nil {
		return dbTarget{}, fmt.Errorf("backup: %w", err)
	}
	env, err := envfile.Parse(b)
	if err != nil {
		return dbTarget{}, fmt.Errorf("backup: parse .env: %w", err)
	}
	get := func(k string) string { v, _ := env.Get(k); return v }
	port, _ := strconv.Atoi(get("WORKSPACE_POSTGRES_PORT"))
	if port == 0 {
		port = 5432
	}
	c := backup.Conn{Host: get("WORKSPACE_POSTGRES_HOST"), Port: port, User: get("POSTGRES_ADMIN_USER"),
		Password: get("POSTGRES_ADMIN_PASSWORD"), Database: get("WORKSPACE_POSTGRES_DB"), AdminDatabase: get("POSTGRES_ADMIN_DB")}
	if c.Database == "" {
		c.Database = "workspace"
	}
	if get("WORKSPACE_POSTGRES_SSL_ENABLED") == "true" {
		c.SSLMode = get("WORKSPACE_POSTGRES_SSL_MODE")
		if ca := get("WORKSPACE_POSTGRES_SSL_CA"); strings.HasPrefix(ca, containerCerts) {
			c.SSLRootCert = filepath.Join(dir, deploy.CertsDir, filepath.FromSlash(strings.TrimPrefix(ca, containerCerts)))
		} else if ca != "" {
			c.SSLRootCert = path.Clean(ca)
		}
	} else {
		c.SSLMode = "disable"
	}
	if get("LOCAL_POSTGRES_SCALE") != "1" {
		return dbTarget{host: &c}, nil
	}
	// The embedded database publishes no port: the dump runs inside its
	// own container, which reaches it on localhost.
	t := dbTarget{embedded: true}
	if eng == nil {
		return t, nil
	}
	list, err := eng.ProjectContainers(ctx, project)
	if err != nil {
		return t, fmt.Errorf("backup: %w", err)
	}
	for _, ct := range list {
		if ct.Service == embeddedService && ct.State == "running" {
			inside := c
			inside.Host, inside.Port, inside.SSLMode, inside.SSLRootCert = "127.0.0.1", 5432, "disable", ""
			t.container = &backup.Container{Exec: eng, ID: ct.ID, Conn: inside}
		}
	}
	return t, nil
}

// takeBackup dumps and verifies the database into dir.
func takeBackup(ctx context.Context, t dbTarget, dir string, now func() time.Time) (backup.Backup, error) {
	return backup.Take(ctx, backup.Options{Host: t.host, Container: t.container, Dir: dir, Now: now})
}
