package app

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"github.com/carto-setup/carto-setup/internal/config"
	"github.com/carto-setup/carto-setup/internal/demo/demopg"
	"github.com/carto-setup/carto-setup/internal/demo/release"
	"github.com/carto-setup/carto-setup/internal/engine"
	"github.com/carto-setup/carto-setup/internal/pgbin"
	"github.com/carto-setup/carto-setup/internal/steps"
	"github.com/carto-setup/carto-setup/internal/wizard"
)

// demoDatabaseDir is where --demo keeps its PostgreSQL, under the state
// directory.
const demoDatabaseDir = "demo-postgres"

// startDemoDatabase starts the demo's PostgreSQL from the host's binaries,
// listening on the Docker bridge so that the host and the containers reach
// it, and fills the database step with it when the admin has not chosen
// a database yet: the demo needs nothing typed. It keeps running after the
// wizard stops, like the stack that uses it; `carto-setup down --demo`
// stops it. When it cannot start, the wizard runs without it and says
// why on out.
func startDemoDatabase(ctx context.Context, cfg config.Config, store wizard.Store, out io.Writer) {
	fail := func(err error) {
		fmt.Fprintf(out, "Demo mode: the demo PostgreSQL did not start, so the database step is not filled in: %v\n", err)
		switch {
		case errors.Is(err, pgbin.ErrNotFound):
			fmt.Fprintf(out, "Demo mode: %s\n", pgbin.InstallHint)
		case errors.As(err, new(*demopg.AccessError)):
			fmt.Fprintln(out, "Demo mode: keep the state directory where the postgres user can reach it (for example under /var/tmp), or run as an ordinary user.")
		}
	}
	eng, err := engine.New(ctx)
	if err != nil {
		fail(err)
		return
	}
	defer eng.Close()
	bridge, err := eng.DefaultBridge(ctx)
	if err != nil {
		fail(err)
		return
	}
	pn, err := eng.ProjectSubnets(ctx, cfg.Project)
	if err != nil {
		fail(err)
		return
	}
	srv, err := demopg.Start(ctx, demopg.Options{Dir: filepath.Join(cfg.StateDir, demoDatabaseDir), ListenAddr: bridge.Gateway,
		AllowSubnets: append([]netip.Prefix{bridge.Subnet}, pn.Subnets...), TLS: true})
	if err != nil {
		fail(err)
		return
	}
	p := srv.Prefill()
	filled := false
	_, err = store.Update(func(st *wizard.State) error {
		db := st.Database
		// Fill a step the admin has not set, or refresh one that names
		// this same demo cluster (whose port may have moved).
		if db.Mode != "" && (db.Host != p.Host || db.AdminPassword != p.AdminPassword) {
			return nil
		}
		if db.Mode == "" {
			db = steps.DatabaseDefaults()
			db.WorkspacePassword = rand.Text()
		}
		db.Mode, db.Host, db.Port, db.AdminUser, db.AdminPassword, db.AdminDatabase = wizard.ModeExternal, p.Host, p.Port, p.AdminUser, p.AdminPassword, p.AdminDatabase
		db.SSL, db.SSLMode, db.CAPEM = p.SSL, p.SSLMode, string(p.CAPEM)
		filled = st.Database != db
		st.Database = db
		return nil
	})
	if err != nil {
		fail(err)
		return
	}
	fmt.Fprintf(out, "Demo mode: the demo's PostgreSQL runs at %s (TLS; data in %s)\n", srv.Addr(), filepath.Join(cfg.StateDir, demoDatabaseDir))
	if filled {
		fmt.Fprintln(out, "Demo mode: the database step is filled in with it; press Test connections, then Continue.")
	}
}

// stopDemoDatabase stops the demo's PostgreSQL, and with remove deletes
// it with its data.
func stopDemoDatabase(ctx context.Context, stateDir string, remove bool) error {
	dir := filepath.Join(stateDir, demoDatabaseDir)
	if remove {
		return demopg.Remove(ctx, dir)
	}
	return demopg.StopIn(ctx, dir)
}

// demoStopper stops the demo's PostgreSQL; with purge it also removes the
// stand-in images and the demo's state directory (release, package,
// database, wizard state), once it is sure the directory is a demo's.
func demoStopper(cfg config.Config, out io.Writer) func(ctx context.Context, purge bool) error {
	return func(ctx context.Context, purge bool) error {
		fmt.Fprintln(out, "Stopping the demo's PostgreSQL.")
		if err := stopDemoDatabase(ctx, cfg.StateDir, purge); err != nil {
			return err
		}
		if !purge {
			return nil
		}
		if eng, err := engine.New(ctx); err == nil {
			version, _ := os.ReadFile(filepath.Join(cfg.Dir, "VERSION"))
			fmt.Fprintf(out, "Removing the stand-in images %s.\n", strings.Join(release.ImageTags(strings.TrimSpace(string(version))), ", "))
			if err := release.RemoveImages(ctx, eng, strings.TrimSpace(string(version))); err != nil {
				fmt.Fprintf(out, "Some images were not removed (a container may still use them): %v\n", err)
			}
			eng.Close()
		}
		if _, err := os.Stat(filepath.Join(cfg.StateDir, "demo-release")); err != nil {
			return fmt.Errorf("demo: %s holds no demo release; it is left in place", cfg.StateDir)
		}
		fmt.Fprintf(out, "Removing the demo's state directory %s.\n", cfg.StateDir)
		return os.RemoveAll(cfg.StateDir)
	}
}
