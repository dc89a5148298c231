package standin

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/carto-setup/carto-setup/internal/pgtest"
	"github.com/carto-setup/carto-setup/internal/testenv"
)

func TestSchemaVersion(t *testing.T) {
	tests := []struct {
		release string
		want    int
	}{
		{"2026.7.16", 2},
		{"2026.7.16-t1", 2},
		{"2026.8.11", 3},
		{"2026.8.11-rc.7", 3},
		{"2026.8.11-t1", 3},
		{"2027.1.1", 3},
	}
	for _, tt := range tests {
		if got := SchemaVersion(tt.release); got != tt.want {
			t.Errorf("SchemaVersion(%q) = %d, want %d", tt.release, got, tt.want)
		}
	}
}

// TestMigrationsUpgradeAndRefusedDowngrade runs the stand-in
// workspace-migrations of the older release, then of the newer against the
// same database (an upgrade), then of the older again: that must exit 1,
// name both schema versions and change nothing.
func TestMigrationsUpgradeAndRefusedDowngrade(t *testing.T) {
	t.Parallel()
	pg := pgtest.Start(t, pgtest.Options{})
	env := baseEnv(t)
	env["WORKSPACE_POSTGRES_HOST"] = pg.Host
	env["WORKSPACE_POSTGRES_PORT"] = strconv.Itoa(pg.Port)
	env["POSTGRES_ADMIN_USER"] = pg.User
	env["POSTGRES_ADMIN_PASSWORD"] = pg.Password
	run := func(release string) (int, string, string) {
		env["CARTO_SELFHOSTED_VERSION"] = release
		var stdout, stderr testenv.Buffer
		code := Main(context.Background(), []string{"workspace-migrations"}, getenvFrom(env), &stdout, &stderr)
		return code, stdout.String(), stderr.String()
	}
	schema := func() (int, string) {
		var v int
		var r string
		if err := pg.Conn(t, "workspace").QueryRow(context.Background(), "SELECT version, release FROM standin_schema").Scan(&v, &r); err != nil {
			t.Fatal(err)
		}
		return v, r
	}
	workflows := func() bool {
		var ok bool
		pg.Conn(t, "workspace").QueryRow(context.Background(), "SELECT to_regclass('standin_workflows') IS NOT NULL").Scan(&ok)
		return ok
	}

	if code, out, errOut := run("2026.7.16"); code != 0 {
		t.Fatalf("older release: exit %d\n%s\n%s", code, out, errOut)
	}
	if v, r := schema(); v != 2 || r != "2026.7.16" || workflows() {
		t.Fatalf("after the older release: schema %d by %s, workflows table %v; want 2 by 2026.7.16 and no table", v, r, workflows())
	}
	code, out, errOut := run("2026.8.11")
	if code != 0 {
		t.Fatalf("newer release: exit %d\n%s\n%s", code, out, errOut)
	}
	if !strings.Contains(out, "name=0003_standin_workflows schema_version=3") || !strings.Contains(out, "migration already applied") {
		t.Errorf("the upgrade's log does not show 0003 applied over 0001-0002:\n%s", out)
	}
	if v, r := schema(); v != 3 || r != "2026.8.11" || !workflows() {
		t.Fatalf("after the upgrade: schema %d by %s, workflows table %v; want 3 by 2026.8.11 and the table", v, r, workflows())
	}
	code, out, errOut = run("2026.7.16")
	if code != 1 {
		t.Fatalf("older release over the newer schema: exit %d, want 1\n%s\n%s", code, out, errOut)
	}
	for _, want := range []string{"schema version 3, written by release 2026.8.11", "release 2026.7.16 only knows up to 2", "forward-only", "exiting with code 1"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("the refusal does not say %q:\n%s", want, errOut)
		}
	}
	if v, r := schema(); v != 3 || r != "2026.8.11" || !workflows() {
		t.Errorf("the refused downgrade changed the schema: %d by %s, workflows table %v", v, r, workflows())
	}
	// The same release again is no change.
	if code, out, errOut := run("2026.8.11"); code != 0 || strings.Contains(out, "applied migration") {
		t.Errorf("re-running the newer release: exit %d, or it applied something:\n%s\n%s", code, out, errOut)
	}
}
