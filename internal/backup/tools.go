package backup

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// Conn is how a client tool reaches the metadata database, from where the
// tool runs.
type Conn struct {
	Host     string
	Port     int
	User     string // the admin role (POSTGRES_ADMIN_USER)
	Password string // passed in PGPASSWORD, never as an argument
	// Database is the database backed up (WORKSPACE_POSTGRES_DB);
	// AdminDatabase the one the admin connects to for CREATE and DROP
	// DATABASE (POSTGRES_ADMIN_DB; "postgres" when empty).
	Database      string
	AdminDatabase string
	SSLMode       string // libpq sslmode as the stack uses it; "" is libpq's default
	SSLRootCert   string // the CA file, a path where the tool runs
}

func (c Conn) adminDB() string {
	if c.AdminDatabase == "" {
		return "postgres"
	}
	return c.AdminDatabase
}

// env returns the libpq variables for c, connecting to database.
func (c Conn) env(database string) []string {
	env := []string{
		"PGHOST=" + c.Host, "PGPORT=" + strconv.Itoa(c.Port), "PGUSER=" + c.User,
		"PGPASSWORD=" + c.Password, "PGDATABASE=" + database,
		"PGCONNECT_TIMEOUT=15", "PGAPPNAME=carto-setup-backup",
	}
	if c.SSLMode != "" {
		env = append(env, "PGSSLMODE="+c.SSLMode)
	}
	if c.SSLRootCert != "" {
		env = append(env, "PGSSLROOTCERT="+c.SSLRootCert)
	}
	return env
}

// Execer runs a command in a running container with extra environment
// variables and the given standard streams (stdin may be nil) and returns
// its exit code; err is for a failure to run it at all. internal/engine
// provides it (docker exec through the Engine API).
type Execer interface {
	Exec(ctx context.Context, container string, cmd []string, env []string, stdin io.Reader, stdout, stderr io.Writer) (int, error)
}

// runner runs PostgreSQL's client tools where they are installed.
type runner interface {
	// where names the place for messages: "host" or "container".
	where() string
	// run runs tool with args against conn's database (or db when set),
	// feeding stdin and writing the tool's output to stdout; a failure
	// carries the tool's error output.
	run(ctx context.Context, tool string, args []string, conn Conn, db string, stdin io.Reader, stdout io.Writer) error
	// conn is how the database is reached from there.
	conn() Conn
}

// hostRunner runs the tools installed on this machine.
type hostRunner struct {
	bin string // directory of the tools; "" means PATH
	c   Conn
}

func (h hostRunner) where() string { return "host" }
func (h hostRunner) conn() Conn    { return h.c }

func (h hostRunner) path(tool string) (string, error) {
	if h.bin != "" {
		p := filepath.Join(h.bin, tool)
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("%s is not installed on this host", tool)
		}
		return p, nil
	}
	p, err := exec.LookPath(tool)
	if err != nil {
		return "", fmt.Errorf("%s is not installed on this host (apt-get install postgresql-client)", tool)
	}
	return p, nil
}

func (h hostRunner) run(ctx context.Context, tool string, args []string, conn Conn, db string, stdin io.Reader, stdout io.Writer) error {
	p, err := h.path(tool)
	if err != nil {
		return err
	}
	if db == "" {
		db = conn.Database
	}
	cmd := exec.CommandContext(ctx, p, args...)
	// Only our libpq settings: a PGSERVICE or PGPASSFILE of the caller's
	// environment must not redirect the tool.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PG") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, conn.env(db)...)
	var stderr bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, stdout, &stderr
	if err := cmd.Run(); err != nil {
		return toolError(tool, err, stderr.String())
	}
	return nil
}

// containerRunner runs the tools inside a container.
type containerRunner struct {
	exec Execer
	id   string
	c    Conn
}

func (r containerRunner) where() string { return "container" }
func (r containerRunner) conn() Conn    { return r.c }

func (r containerRunner) run(ctx context.Context, tool string, args []string, conn Conn, db string, stdin io.Reader, stdout io.Writer) error {
	if db == "" {
		db = conn.Database
	}
	var stderr bytes.Buffer
	code, err := r.exec.Exec(ctx, r.id, append([]string{tool}, args...), conn.env(db), stdin, stdout, &stderr)
	if err != nil {
		return fmt.Errorf("%s in container %s: %w", tool, r.id, err)
	}
	if code != 0 {
		return toolError(tool, fmt.Errorf("exit status %d", code), stderr.String())
	}
	return nil
}

func toolError(tool string, err error, stderr string) error {
	msg := strings.TrimSpace(stderr)
	if len(msg) > 2000 {
		msg = msg[:2000] + "…"
	}
	if msg == "" {
		return fmt.Errorf("%s: %w", tool, err)
	}
	return fmt.Errorf("%s: %w: %s", tool, err, msg)
}

var majorRE = regexp.MustCompile(`\(PostgreSQL\) ([0-9]+)`)

// toolMajor returns the major version of a tool from its --version output.
func toolMajor(ctx context.Context, r runner, tool string) (int, string, error) {
	var out bytes.Buffer
	if err := r.run(ctx, tool, []string{"--version"}, r.conn(), "", nil, &out); err != nil {
		return 0, "", err
	}
	m := majorRE.FindStringSubmatch(out.String())
	if m == nil {
		return 0, "", fmt.Errorf("%s --version: no version in %q", tool, strings.TrimSpace(out.String()))
	}
	n, _ := strconv.Atoi(m[1])
	return n, strings.TrimSpace(out.String()), nil
}

// query runs one SQL query with psql and returns its unaligned, tuples-only
// output, one row per line with fields separated by |.
func query(ctx context.Context, r runner, db, sql string) (string, error) {
	var out bytes.Buffer
	err := r.run(ctx, "psql", []string{"--no-psqlrc", "--no-align", "--tuples-only", "--quiet",
		"--set=ON_ERROR_STOP=1", "--command=" + sql}, r.conn(), db, nil, &out)
	return strings.TrimSpace(out.String()), err
}

// server is what the backup needs to know about the database server.
type server struct {
	major     int
	version   string
	createsDB bool // the admin may create a scratch database
}

func serverInfo(ctx context.Context, r runner) (server, error) {
	out, err := query(ctx, r, "", `SELECT current_setting('server_version_num')::int / 10000, current_setting('server_version'),
		(SELECT rolsuper OR rolcreatedb FROM pg_roles WHERE rolname = current_user)`)
	if err != nil {
		return server{}, err
	}
	f := strings.Split(out, "|")
	if len(f) != 3 {
		return server{}, fmt.Errorf("psql: unexpected answer %q", out)
	}
	major, err := strconv.Atoi(f[0])
	if err != nil {
		return server{}, fmt.Errorf("psql: unexpected server version %q", f[0])
	}
	return server{major: major, version: f[1], createsDB: f[2] == "t"}, nil
}
