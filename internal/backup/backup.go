package backup

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/carto-setup/carto-setup/internal/atomicfile"
)

// Container is a running container that has PostgreSQL's client tools,
// with Conn saying how the database is reached from inside it (for the
// embedded database's own container: its own address and port, without
// the host's CA path).
type Container struct {
	Exec Execer
	ID   string
	Conn Conn
}

// Options says where the database is, where the tools are and where the
// file goes.
type Options struct {
	// Host is how this machine reaches the database; nil when it cannot
	// (an embedded database publishes no port).
	Host *Conn
	// HostBin is the directory of the host's pg_dump, pg_restore and psql;
	// "" looks them up on PATH.
	HostBin string
	// Container, when not nil, is tried when the host cannot dump.
	Container *Container
	// Dir receives the file (created owner-only); Name is its name, by
	// default carto-metadata-<database>-<UTC time>.dump.
	Dir  string
	Name string
	Now  func() time.Time
}

// Backup is a verified dump, for the history entry.
type Backup struct {
	Path          string
	Size          int64
	SHA256        string
	Method        string // where pg_dump ran: "host" or "container"
	PgDumpVersion string
	ServerVersion string
	Verification
}

// Verification is what proved a dump restores.
type Verification struct {
	// Entries is the number of archive entries pg_restore --list read.
	Entries int
	// Scratch is the database the dump was restored into and then dropped,
	// with the tables and rows found there; empty with ScratchSkipped
	// saying why when the admin may not create databases.
	Scratch        string
	Tables         int
	Rows           int64
	ScratchSkipped string
	// Changed lists the tables whose row counts differ from the live
	// database's when compared: rows written after the dump, not a fault.
	Changed []string
}

// Summary says in one sentence how the dump was verified.
func (v Verification) Summary() string {
	s := fmt.Sprintf("pg_restore --list read %d entries", v.Entries)
	if v.Scratch == "" {
		return s + "; not restored into a scratch database: " + v.ScratchSkipped
	}
	s += fmt.Sprintf(", and it restored into a scratch database (%d tables, %d rows), since dropped", v.Tables, v.Rows)
	if len(v.Changed) > 0 {
		s += "; rows changed since the dump in " + strings.Join(v.Changed, ", ")
	}
	return s
}

// UnavailableError says why no dump could be taken anywhere: no pg_dump on
// the host, or only one older than the server, and no container with a
// fitting one. The admin may then rely on a snapshot of the managed
// database instead, and must say so.
type UnavailableError struct {
	Reasons []string
}

func (e *UnavailableError) Error() string {
	return "backup: no dump is possible: " + strings.Join(e.Reasons, "; ")
}

// Take dumps the database, writes the file atomically (0600 in a 0700
// directory), and verifies it (see Verify); a dump that does not verify is
// removed and an error returned. It returns an *UnavailableError when no
// place has a pg_dump at least as new as the server's major version
// (pg_dump refuses newer servers).
func Take(ctx context.Context, o Options) (Backup, error) {
	r, srv, dumpVersion, err := choose(ctx, o)
	if err != nil {
		return Backup{}, err
	}
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return Backup{}, fmt.Errorf("backup: %w", err)
	}
	if err := os.Chmod(o.Dir, 0o700); err != nil {
		return Backup{}, fmt.Errorf("backup: %w", err)
	}
	name := o.Name
	if name == "" {
		name = fmt.Sprintf("carto-metadata-%s-%s.dump", r.conn().Database, o.Now().UTC().Format("20060102T150405Z"))
	}
	path := filepath.Join(o.Dir, name)
	b := Backup{Path: path, Method: r.where(), PgDumpVersion: dumpVersion, ServerVersion: srv.version}
	if b.Size, b.SHA256, err = dump(ctx, r, path); err != nil {
		return Backup{}, err
	}
	if b.Verification, err = verify(ctx, r, srv, path); err != nil {
		os.Remove(path)
		return Backup{}, fmt.Errorf("backup: the dump did not verify and was removed: %w", err)
	}
	return b, nil
}

// choose finds where pg_dump can run: the host when it reaches the server
// and its pg_dump is as new as the server, otherwise the container.
func choose(ctx context.Context, o Options) (runner, server, string, error) {
	var reasons []string
	var errs []error
	var candidates []runner
	if o.Host != nil {
		candidates = append(candidates, hostRunner{bin: o.HostBin, c: *o.Host})
	} else {
		reasons = append(reasons, "the database is not reachable from this host")
	}
	if o.Container != nil {
		candidates = append(candidates, containerRunner{exec: o.Container.Exec, id: o.Container.ID, c: o.Container.Conn})
	}
	for _, r := range candidates {
		major, version, err := toolMajor(ctx, r, "pg_dump")
		if err != nil {
			reasons = append(reasons, fmt.Sprintf("on the %s: %v", r.where(), err))
			continue
		}
		srv, err := serverInfo(ctx, r)
		if err != nil {
			errs = append(errs, fmt.Errorf("backup: connect from the %s: %w", r.where(), err))
			continue
		}
		if major < srv.major {
			reasons = append(reasons, fmt.Sprintf("the %s's pg_dump %d is older than the server (PostgreSQL %d), and pg_dump refuses newer servers", r.where(), major, srv.major))
			continue
		}
		return r, srv, version, nil
	}
	// A server no tool could reach is a failure of its own, not a reason
	// to fall back to a snapshot.
	if len(errs) > 0 {
		return nil, server{}, "", errors.Join(errs...)
	}
	if o.Container == nil {
		reasons = append(reasons, "no container with PostgreSQL's tools was given")
	}
	return nil, server{}, "", &UnavailableError{Reasons: reasons}
}

// dump runs pg_dump --format=custom into a temporary file beside path,
// hashing it on the way, and renames it into place once synced.
func dump(ctx context.Context, r runner, path string) (int64, string, error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return 0, "", fmt.Errorf("backup: %w", err)
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	if err := tmp.Chmod(0o600); err != nil {
		return 0, "", fmt.Errorf("backup: %w", err)
	}
	h := sha256.New()
	cw := &countWriter{w: io.MultiWriter(tmp, h)}
	if err := r.run(ctx, "pg_dump", []string{"--format=custom", "--no-password"}, r.conn(), "", nil, cw); err != nil {
		return 0, "", fmt.Errorf("backup: dump on the %s: %w", r.where(), err)
	}
	if err := tmp.Sync(); err != nil {
		return 0, "", fmt.Errorf("backup: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return 0, "", fmt.Errorf("backup: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return 0, "", fmt.Errorf("backup: %w", err)
	}
	if err := atomicfile.SyncDir(filepath.Dir(path)); err != nil {
		return 0, "", fmt.Errorf("backup: %w", err)
	}
	return cw.n, hex.EncodeToString(h.Sum(nil)), nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// verify proves the dump at path restores, with the tools wherever Take
// would run them: pg_restore --list must read its archive, and when the
// admin may create databases it is restored into a scratch database on the
// same server (--exit-on-error, in one transaction), whose tables must be
// the live database's, and which is then dropped.
func verify(ctx context.Context, r runner, srv server, path string) (Verification, error) {
	var v Verification
	list, err := runWithFile(ctx, r, path, "pg_restore", []string{"--list"}, "")
	if err != nil {
		return v, fmt.Errorf("pg_restore --list: %w", err)
	}
	for _, line := range strings.Split(list, "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, ";") {
			v.Entries++
		}
	}
	if v.Entries == 0 {
		return v, errors.New("pg_restore --list: the archive has no entries")
	}
	if !srv.createsDB {
		v.ScratchSkipped = "the admin role may not create databases (CREATEDB)"
		return v, nil
	}

	scratch := "carto_setup_verify_" + strings.ToLower(rand.Text()[:10])
	ident := pgx.Identifier{scratch}.Sanitize()
	admin := r.conn().adminDB()
	if _, err := query(ctx, r, admin, "CREATE DATABASE "+ident); err != nil {
		return v, fmt.Errorf("create the scratch database: %w", err)
	}
	defer func() {
		drop := "DROP DATABASE IF EXISTS " + ident
		if srv.major >= 13 {
			drop += " WITH (FORCE)"
		}
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		query(dctx, r, admin, drop)
	}()
	if _, err := runWithFile(ctx, r, path, "pg_restore", []string{"--dbname=" + scratch, "--no-owner", "--no-privileges",
		"--exit-on-error", "--single-transaction", "--no-password"}, scratch); err != nil {
		return v, fmt.Errorf("restore into a scratch database: %w", err)
	}
	restored, err := tableRows(ctx, r, scratch)
	if err != nil {
		return v, fmt.Errorf("read the scratch database: %w", err)
	}
	live, err := tableRows(ctx, r, "")
	if err != nil {
		return v, fmt.Errorf("read the live database: %w", err)
	}
	var missing []string
	for t, n := range live {
		m, ok := restored[t]
		switch {
		case !ok:
			missing = append(missing, t)
		case m != n:
			v.Changed = append(v.Changed, t)
		}
	}
	if len(missing) > 0 || len(restored) != len(live) {
		return v, fmt.Errorf("the scratch database has %d tables, the live one %d (missing: %s)", len(restored), len(live), strings.Join(missing, ", "))
	}
	v.Scratch, v.Tables = scratch, len(restored)
	for _, n := range restored {
		v.Rows += n
	}
	return v, nil
}

// tableRows counts the rows of every user table of a database.
func tableRows(ctx context.Context, r runner, db string) (map[string]int64, error) {
	out, err := query(ctx, r, db, `SELECT format('%I.%I', schemaname, tablename), (xpath('/row/c/text()',
		query_to_xml(format('SELECT count(*) AS c FROM %I.%I', schemaname, tablename), false, true, '')))[1]::text
		FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1`)
	if err != nil {
		return nil, err
	}
	rows := map[string]int64{}
	for _, line := range strings.Split(out, "\n") {
		if line == "" {
			continue
		}
		name, count, ok := strings.Cut(line, "|")
		var n int64
		if _, err := fmt.Sscan(count, &n); !ok || err != nil {
			return nil, fmt.Errorf("unexpected row %q", line)
		}
		rows[name] = n
	}
	return rows, nil
}

// runWithFile runs a tool that reads the dump: on the host by path, in a
// container on its standard input (the file is on the host).
func runWithFile(ctx context.Context, r runner, path, tool string, args []string, db string) (string, error) {
	var out strings.Builder
	if _, ok := r.(hostRunner); ok {
		err := r.run(ctx, tool, append(args, path), r.conn(), db, nil, &out)
		return out.String(), err
	}
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	err = r.run(ctx, tool, args, r.conn(), db, f, &out)
	return out.String(), err
}

// Check reports whether the file at path still has the checksum recorded
// when it was taken.
func Check(path, wantSHA256 string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("backup: check: %w", err)
	}
	defer f.Close()
	var h hash.Hash = sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return fmt.Errorf("backup: check: %w", err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != wantSHA256 {
		return fmt.Errorf("backup: check: %s has checksum %s, recorded %s: it changed since it was taken", path, got, wantSHA256)
	}
	return nil
}

// RestoreCommand returns the shell command that puts the database back as
// the backup at path has it: pg_restore --clean --create drops the
// database and creates it again from the dump, connected as the admin with
// the stack's TLS settings; it asks for the admin password. The stack must
// be stopped first (no session may use the database). conn is how this
// host reaches the database.
func RestoreCommand(path string, conn Conn) string {
	var parts []string
	if conn.SSLMode != "" {
		parts = append(parts, "PGSSLMODE="+shellQuote(conn.SSLMode))
	}
	if conn.SSLRootCert != "" {
		parts = append(parts, "PGSSLROOTCERT="+shellQuote(conn.SSLRootCert))
	}
	parts = append(parts, "pg_restore",
		"--host="+shellQuote(conn.Host), fmt.Sprintf("--port=%d", conn.Port), "--username="+shellQuote(conn.User),
		"--dbname="+shellQuote(conn.adminDB()), "--clean", "--if-exists", "--create", "--exit-on-error",
		shellQuote(path))
	return strings.Join(parts, " ")
}

// shellQuote quotes s for a POSIX shell unless it needs no quoting.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:=@,+") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
