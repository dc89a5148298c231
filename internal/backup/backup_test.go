package backup

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/carto-setup/carto-setup/internal/pgtest"
	"github.com/carto-setup/carto-setup/internal/testenv"
)

// metadata fills a workspace database the way CARTO's migrations would
// leave one: a role that owns it, tables in two schemas, rows, a sequence,
// an index and a view, so that a restore has something to get wrong.
func metadata(t *testing.T, pg *pgtest.Server) {
	t.Helper()
	pg.Exec(t, "CREATE ROLE workspace_admin LOGIN PASSWORD 'ws-secret'")
	pg.Exec(t, "CREATE DATABASE workspace OWNER workspace_admin")
	for _, sql := range []string{
		"CREATE TABLE maps (id bigserial PRIMARY KEY, name text NOT NULL, created_at timestamptz DEFAULT now())",
		"CREATE INDEX maps_name ON maps (name)",
		"INSERT INTO maps (name) SELECT 'map ' || g FROM generate_series(1, 250) g",
		"CREATE SCHEMA accounts",
		"CREATE TABLE accounts.users (email text PRIMARY KEY, settings jsonb)",
		`INSERT INTO accounts.users VALUES ('a@example.com', '{"theme":"dark"}'), ('b@example.com', NULL)`,
		"CREATE VIEW map_names AS SELECT name FROM maps",
		"ALTER TABLE maps OWNER TO workspace_admin",
	} {
		pg.ExecIn(t, "workspace", sql)
	}
}

// hostConn is how the test reaches the server as the superuser admin.
func hostConn(pg *pgtest.Server) *Conn {
	return &Conn{Host: pg.Host, Port: pg.Port, User: pg.User, Password: pg.Password, Database: "workspace", SSLMode: "disable"}
}

func options(t *testing.T, c *Conn) Options {
	return Options{Host: c, Dir: filepath.Join(t.TempDir(), "backups"), Now: time.Now}
}

func count(t *testing.T, pg *pgtest.Server, db, sql string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn := pg.Conn(t, db)
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, sql).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func scratchDatabases(t *testing.T, pg *pgtest.Server) int {
	return count(t, pg, "postgres", "SELECT count(*) FROM pg_database WHERE datname LIKE 'carto_setup_verify_%'")
}

// TestTakeOverTLSAndRestore dumps over TLS only (the server refuses plain
// connections) with the CA verified as the stack does, verifies by a
// scratch restore that is dropped afterwards, then runs the printed
// pg_restore command after the database was damaged and finds it back as
// it was.
func TestTakeOverTLSAndRestore(t *testing.T) {
	t.Parallel()
	testenv.LookPath(t, "pg_dump", "apt-get install postgresql-client")
	pg := pgtest.Start(t, pgtest.Options{TLS: true, HBA: []string{"hostssl all all 127.0.0.1/32 scram-sha-256"}})
	metadata(t, pg)
	ca := filepath.Join(t.TempDir(), "postgresql-ssl-ca.crt")
	if err := os.WriteFile(ca, pg.CAPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	conn := hostConn(pg)
	conn.SSLMode, conn.SSLRootCert = "verify-full", ca
	conn.Host = "localhost"
	o := options(t, conn)
	ctx := context.Background()

	// Without TLS the server refuses: the settings are really used.
	plain := *conn
	plain.SSLMode = "disable"
	if _, err := Take(ctx, options(t, &plain)); err == nil || !strings.Contains(err.Error(), "no pg_hba.conf entry") {
		t.Fatalf("a plain connection: %v, want the server's refusal", err)
	}
	// A CA that did not issue the server certificate is refused.
	other := filepath.Join(t.TempDir(), "other.crt")
	os.WriteFile(other, pgtest.NewCA(t).PEM, 0o600)
	wrongCA := *conn
	wrongCA.SSLRootCert = other
	if _, err := Take(ctx, options(t, &wrongCA)); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("a wrong CA: %v, want a certificate error", err)
	}

	b, err := Take(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if b.Method != "host" || !strings.Contains(b.PgDumpVersion, "PostgreSQL") || b.ServerVersion == "" {
		t.Errorf("backup %+v", b)
	}
	if b.Tables != 2 || b.Rows != 252 || b.Entries < 8 || b.Scratch == "" || len(b.Changed) != 0 {
		t.Errorf("verification %+v", b.Verification)
	}
	if !strings.Contains(b.Summary(), "2 tables, 252 rows") {
		t.Errorf("summary %q", b.Summary())
	}
	if n := scratchDatabases(t, pg); n != 0 {
		t.Errorf("%d scratch databases left", n)
	}
	fi, err := os.Stat(b.Path)
	if err != nil || fi.Mode().Perm() != 0o600 || fi.Size() != b.Size || !strings.HasSuffix(b.Path, ".dump") {
		t.Fatalf("file %v %v", fi, err)
	}
	if di, _ := os.Stat(o.Dir); di.Mode().Perm() != 0o700 {
		t.Errorf("backup directory mode %o", di.Mode().Perm())
	}
	if err := Check(b.Path, b.SHA256); err != nil {
		t.Error(err)
	}
	if head, _ := os.ReadFile(b.Path); !strings.HasPrefix(string(head), "PGDMP") {
		t.Error("not a custom-format archive")
	}
	if temps, _ := filepath.Glob(filepath.Join(o.Dir, ".*")); len(temps) != 0 {
		t.Errorf("temporary files left: %v", temps)
	}

	// Damage the database, then run the printed command as an admin would.
	pg.ExecIn(t, "workspace", "DROP TABLE accounts.users")
	pg.ExecIn(t, "workspace", "INSERT INTO maps (name) VALUES ('after the backup')")
	cmdline := RestoreCommand(b.Path, *conn)
	for _, want := range []string{"PGSSLMODE=verify-full", "PGSSLROOTCERT=" + ca, "pg_restore", "--host=localhost",
		"--port=" + strconv.Itoa(pg.Port), "--username=postgres", "--dbname=postgres", "--clean", "--if-exists", "--create", b.Path} {
		if !strings.Contains(cmdline, want) {
			t.Errorf("restore command lacks %q: %s", want, cmdline)
		}
	}
	if strings.Contains(cmdline, pg.Password) {
		t.Error("the restore command holds the password")
	}
	sh := exec.Command("sh", "-c", cmdline)
	sh.Env = append(os.Environ(), "PGPASSWORD="+pg.Password)
	if out, err := sh.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", cmdline, err, out)
	}
	if n := count(t, pg, "workspace", "SELECT count(*) FROM maps"); n != 250 {
		t.Errorf("maps has %d rows after the restore, want 250", n)
	}
	if n := count(t, pg, "workspace", "SELECT count(*) FROM accounts.users"); n != 2 {
		t.Errorf("accounts.users has %d rows after the restore, want 2", n)
	}
	if err := Check(b.Path, strings.Repeat("0", 64)); err == nil {
		t.Error("Check accepted a wrong checksum")
	}
}

// TestCorruptDumpRefused verifies damaged files: no archive, an empty
// file and a dump cut short (pg_restore --list refuses them), and one whose
// compressed data is damaged behind an intact table of contents, which
// only the scratch restore finds. The scratch database is dropped in every
// case.
func TestCorruptDumpRefused(t *testing.T) {
	t.Parallel()
	testenv.LookPath(t, "pg_dump", "apt-get install postgresql-client")
	pg := pgtest.Start(t, pgtest.Options{})
	metadata(t, pg)
	ctx := context.Background()
	o := options(t, hostConn(pg))
	b, err := Take(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	good, _ := os.ReadFile(b.Path)
	flipped := append([]byte{}, good...)
	for i := len(flipped) * 9 / 10; i < len(flipped)*9/10+16; i++ {
		flipped[i] ^= 0xff
	}
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"not an archive", []byte("this is not a dump\n"), "pg_restore --list"},
		{"empty", nil, "pg_restore --list"},
		{"cut short", good[:len(good)*3/4], "pg_restore --list"},
		// The table of contents is intact, the compressed data is not:
		// only the scratch restore finds it.
		{"damaged data", flipped, "restore into a scratch database"},
	}
	for _, tt := range tests {
		path := filepath.Join(t.TempDir(), "bad.dump")
		os.WriteFile(path, tt.data, 0o600)
		if _, err := Verify(ctx, o, path); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want an error from %s", tt.name, err, tt.want)
		}
	}
	if n := scratchDatabases(t, pg); n != 0 {
		t.Errorf("%d scratch databases left", n)
	}
	if v, err := Verify(ctx, o, b.Path); err != nil || v.Tables != 2 {
		t.Errorf("the good dump: %+v %v", v, err)
	}
}

// TestAdminWithoutCreateDB dumps as an admin that may read the database
// but not create one: the dump is listed, the scratch restore skipped and
// said so.
func TestAdminWithoutCreateDB(t *testing.T) {
	t.Parallel()
	testenv.LookPath(t, "pg_dump", "apt-get install postgresql-client")
	pg := pgtest.Start(t, pgtest.Options{})
	metadata(t, pg)
	pg.Exec(t, "CREATE ROLE reader LOGIN PASSWORD 'reader-pw' NOCREATEDB")
	pg.Exec(t, "GRANT workspace_admin TO reader")
	pg.ExecIn(t, "workspace", "GRANT USAGE ON SCHEMA accounts TO reader")
	pg.ExecIn(t, "workspace", "GRANT SELECT ON accounts.users TO reader")
	c := hostConn(pg)
	c.User, c.Password = "reader", "reader-pw"
	b, err := Take(context.Background(), options(t, c))
	if err != nil {
		t.Fatal(err)
	}
	if b.Scratch != "" || !strings.Contains(b.ScratchSkipped, "CREATEDB") || b.Entries == 0 || !strings.Contains(b.Summary(), "not restored") {
		t.Errorf("verification %+v", b.Verification)
	}
}

// TestNoDumpPossible: no pg_dump on the host, and one older than the
// server, each without a container, give an UnavailableError with the
// reason; a server nobody reaches is an error of its own.
func TestNoDumpPossible(t *testing.T) {
	t.Parallel()
	psql := testenv.LookPath(t, "psql", "apt-get install postgresql-client")
	pg := pgtest.Start(t, pgtest.Options{})
	metadata(t, pg)
	ctx := context.Background()

	o := options(t, hostConn(pg))
	o.HostBin = t.TempDir()
	_, err := Take(ctx, o)
	var un *UnavailableError
	if !errors.As(err, &un) || !strings.Contains(err.Error(), "pg_dump is not installed on this host") {
		t.Errorf("no pg_dump: %v", err)
	}

	// An old pg_dump: a script answering --version as pg_dump 12 does,
	// beside the real psql that asks the server its version.
	old := t.TempDir()
	os.WriteFile(filepath.Join(old, "pg_dump"), []byte("#!/bin/sh\necho 'pg_dump (PostgreSQL) 12.22'\n"), 0o755)
	os.Symlink(psql, filepath.Join(old, "psql"))
	o.HostBin = old
	_, err = Take(ctx, o)
	if !errors.As(err, &un) || !strings.Contains(err.Error(), "pg_dump 12 is older than the server (PostgreSQL 15)") ||
		!strings.Contains(err.Error(), "no container") {
		t.Errorf("old pg_dump: %v", err)
	}
	if entries, _ := os.ReadDir(o.Dir); len(entries) != 0 {
		t.Errorf("files written: %v", entries)
	}

	closed := hostConn(pg)
	closed.Port = testenv.ClosedPort(t)
	o = options(t, closed)
	if _, err := Take(ctx, o); err == nil || errors.As(err, &un) {
		t.Errorf("unreachable server: %v, want an error that is not UnavailableError", err)
	}
	if _, err := Take(ctx, Options{Dir: t.TempDir(), Now: time.Now}); !errors.As(err, &un) || !strings.Contains(err.Error(), "not reachable from this host") {
		t.Errorf("nowhere to run: %v", err)
	}
}

func TestShellQuote(t *testing.T) {
	for in, want := range map[string]string{
		"/var/backups/x.dump": "/var/backups/x.dump",
		"a b":                 "'a b'",
		"it's":                `'it'\''s'`,
		"":                    "''",
		"$(rm -rf /)":         "'$(rm -rf /)'",
	} {
		if got := shellQuote(in); got != want {
			t.Errorf("shellQuote(%q) = %q, want %q", in, got, want)
		}
	}
}

// Verify checks the dump at path again with the tools wherever Take would
// run them, as Take does right after dumping.
func Verify(ctx context.Context, o Options, path string) (Verification, error) {
	r, srv, _, err := choose(ctx, o)
	if err != nil {
		return Verification{}, err
	}
	return verify(ctx, r, srv, path)
}
