package demopg

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/carto-setup/carto-setup/internal/atomicfile"
	"github.com/carto-setup/carto-setup/internal/localca"
	"github.com/carto-setup/carto-setup/internal/pgbin"
)

// AdminUser and AdminDatabase are the superuser the cluster is created with
// and the database it logs in to.
const (
	AdminUser     = "postgres"
	AdminDatabase = "postgres"
)

// DefaultPort is tried first on a first start, so that the demo's database
// step shows the port an admin expects.
const DefaultPort = 5432

// Files and directories under Options.Dir.
const (
	passwordFile = "admin-password" // the generated admin password, 0600
	stateFile    = "demopg.json"    // the port of the last start
	caCertFile   = "ca.crt"         // the CA that issues the server certificate (TLS)
	caKeyFile    = "ca.key"
	dataDir      = "pgdata" // the cluster, owned by the user postgres runs as
	runDir       = "run"    // socket, server log and initdb's password file
	logFile      = "postgres.log"
	confFile     = "carto-setup-demo.conf" // included by postgresql.conf, rewritten at every start
)

// Options shape the demo database.
type Options struct {
	// Dir holds the cluster, its admin password and its CA: the demo
	// state directory's demo-postgres. Its parent must be the state
	// directory (see Start about root).
	Dir string
	// ListenAddr is the only address the server listens on: the Docker
	// bridge gateway (engine.Client.DefaultBridge), which the host and
	// every container can reach.
	ListenAddr netip.Addr
	// AllowSubnets are the client networks pg_hba.conf admits besides
	// ListenAddr itself: the Compose project's subnets, or the pools it
	// will be carved from (engine.Client.ProjectSubnets).
	AllowSubnets []netip.Prefix
	// Port is the TCP port; 0 means the port of the previous start when
	// it is free, else DefaultPort when free, else any free port.
	Port int
	// TLS turns on ssl and requires it of TCP clients, with a server
	// certificate issued for ListenAddr by a CA made once in Dir.
	TLS bool
	// BinDir holds initdb, postgres and pg_ctl; "" finds them (pgbin.Dir).
	BinDir string
}

// Server is a started demo database.
type Server struct {
	dir      string
	bin      string
	cred     *syscall.Credential
	host     netip.Addr
	port     int
	password string
	caPEM    []byte
}

// Prefill is what the database step offers when the demo database runs:
// every field of an external database, SSL included.
type Prefill struct {
	Host          string
	Port          int
	AdminUser     string
	AdminPassword string
	AdminDatabase string
	SSL           bool
	SSLMode       string // "disable", or "verify-full" against CAPEM
	CAPEM         []byte
}

// Prefill returns the database step's values for this server.
func (s *Server) Prefill() Prefill {
	p := Prefill{Host: s.host.String(), Port: s.port, AdminUser: AdminUser, AdminPassword: s.password,
		AdminDatabase: AdminDatabase, SSLMode: "disable"}
	if s.caPEM != nil {
		p.SSL, p.SSLMode, p.CAPEM = true, "verify-full", append([]byte(nil), s.caPEM...)
	}
	return p
}

// Addr is host:port of the listener.
func (s *Server) Addr() string { return net.JoinHostPort(s.host.String(), strconv.Itoa(s.port)) }

// LogPath is the server's log file.
func (s *Server) LogPath() string { return filepath.Join(s.dir, runDir, logFile) }

// Start creates the cluster on the first start, or reuses it, and starts
// the server with pg_ctl, replacing a server a previous carto-setup left
// running on the same cluster. It returns once the admin can log in over
// TCP on ListenAddr.
//
// PostgreSQL refuses to run as root. When carto-setup runs as root the
// server runs as the postgres system user, which must be able to pass
// through every directory above Dir: Start gives the postgres group
// passage (group postgres, g+x, no read) through Dir and through its
// parent, the state directory, when this user owns it; a directory higher
// up that stops it is reported as an *AccessError.
func Start(ctx context.Context, opts Options) (*Server, error) {
	if !filepath.IsAbs(opts.Dir) {
		return nil, fmt.Errorf("demopg: the directory %q is not absolute", opts.Dir)
	}
	if !opts.ListenAddr.Is4() {
		return nil, fmt.Errorf("demopg: the listen address %v is not an IPv4 address", opts.ListenAddr)
	}
	bin := opts.BinDir
	if bin == "" {
		var err error
		if bin, err = pgbin.Dir(); err != nil {
			return nil, fmt.Errorf("demopg: %w (%s)", err, pgbin.InstallHint)
		}
	}
	if _, err := os.Stat(filepath.Join(bin, "pg_ctl")); err != nil {
		return nil, fmt.Errorf("demopg: no pg_ctl beside initdb in %s: %w", bin, err)
	}
	cred, err := pgbin.SystemUser()
	if err != nil {
		return nil, fmt.Errorf("demopg: %w; run carto-setup as an ordinary user in the docker group instead", err)
	}
	s := &Server{dir: opts.Dir, bin: bin, cred: cred, host: opts.ListenAddr}
	if err := s.prepareDirs(); err != nil {
		return nil, err
	}
	if s.password, err = loadOrCreatePassword(filepath.Join(s.dir, passwordFile)); err != nil {
		return nil, err
	}
	if err := s.initOnce(ctx); err != nil {
		return nil, err
	}
	if err := s.stopLeftover(ctx); err != nil {
		return nil, err
	}
	if opts.TLS {
		if err := s.serverCertificate(); err != nil {
			return nil, err
		}
	}
	ports := candidatePorts(opts.Port, s.lastPort(), opts.ListenAddr)
	var lastErr error
	for _, port := range ports {
		s.port = port
		if err := s.writeConfig(opts); err != nil {
			return nil, err
		}
		if lastErr = s.pgctl(ctx, "start", "-w", "-t", "60", "-l", s.LogPath()); lastErr == nil {
			break
		}
		if !strings.Contains(s.logTail(), "could not bind") {
			break
		}
	}
	if lastErr != nil {
		return nil, fmt.Errorf("demopg: start the server: %w\n%s", lastErr, s.logTail())
	}
	if err := s.saveState(); err != nil {
		s.Stop(context.WithoutCancel(ctx))
		return nil, err
	}
	if err := s.ping(ctx); err != nil {
		s.Stop(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("demopg: the server started but the admin cannot log in at %s: %w", s.Addr(), err)
	}
	return s, nil
}

// Stop shuts the server down (fast: open sessions are ended) and waits for
// it. Stopping a server that does not run is not an error.
func (s *Server) Stop(ctx context.Context) error {
	if !s.running(ctx) {
		return nil
	}
	if err := s.pgctl(ctx, "stop", "-w", "-t", "60", "-m", "fast"); err != nil {
		return fmt.Errorf("demopg: stop: %w", err)
	}
	return nil
}

// StopIn stops the demo database of dir when one runs, keeping its data:
// what stopping the demo means. Nothing there is not an error.
func StopIn(ctx context.Context, dir string) error {
	if _, err := os.Stat(filepath.Join(dir, dataDir, "PG_VERSION")); err != nil {
		return nil
	}
	bin, err := pgbin.Dir()
	if err != nil {
		return fmt.Errorf("demopg: stop %s: %w", dir, err)
	}
	cred, err := pgbin.SystemUser()
	if err != nil {
		return fmt.Errorf("demopg: stop %s: %w", dir, err)
	}
	return (&Server{dir: dir, bin: bin, cred: cred}).Stop(ctx)
}

// Remove stops a demo database left in dir, if any, and deletes dir with
// its cluster, password and CA: what "clean up the demo" means.
func Remove(ctx context.Context, dir string) error {
	if err := StopIn(ctx, dir); err != nil {
		return err
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("demopg: remove %s: %w", dir, err)
	}
	return nil
}

// initOnce runs initdb when the cluster does not exist yet, and refuses a
// cluster of another major version than the programs found.
func (s *Server) initOnce(ctx context.Context) error {
	data := filepath.Join(s.dir, dataDir)
	b, err := os.ReadFile(filepath.Join(data, "PG_VERSION"))
	if err == nil {
		have, want := strings.TrimSpace(string(b)), pgbin.Major(s.bin)
		if want != 0 && have != strconv.Itoa(want) {
			return fmt.Errorf("demopg: the demo database in %s was made by PostgreSQL %s, but the programs found are PostgreSQL %d; remove the directory to start afresh", data, have, want)
		}
		return nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("demopg: %w", err)
	}
	pwfile := filepath.Join(s.dir, runDir, "initdb-password")
	if err := s.writeOwned(pwfile, []byte(s.password+"\n")); err != nil {
		return err
	}
	defer os.Remove(pwfile)
	out, err := s.command(ctx, "initdb", "-D", data, "-U", AdminUser, "--pwfile="+pwfile,
		"--auth=scram-sha-256", "-E", "UTF8", "--locale=C", "--no-instructions").CombinedOutput()
	if err != nil {
		return fmt.Errorf("demopg: initdb: %w\n%s", err, out)
	}
	conf := filepath.Join(data, "postgresql.conf")
	f, err := os.OpenFile(conf, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("demopg: %w", err)
	}
	defer f.Close()
	// The settings carto-setup owns live in their own file, rewritten at
	// every start; the last setting read wins.
	if _, err := fmt.Fprintf(f, "\n# carto-setup demo database\ninclude_if_exists = '%s'\n", confFile); err != nil {
		return fmt.Errorf("demopg: %w", err)
	}
	return nil
}

// stopLeftover stops a server still running on the cluster, left by a
// carto-setup that ended without Stop, so that this start's settings
// apply.
func (s *Server) stopLeftover(ctx context.Context) error {
	if !s.running(ctx) {
		return nil
	}
	if err := s.pgctl(ctx, "stop", "-w", "-t", "60", "-m", "fast"); err != nil {
		return fmt.Errorf("demopg: stop the server left running: %w", err)
	}
	return nil
}

// running asks pg_ctl whether a server runs on the cluster.
func (s *Server) running(ctx context.Context) bool {
	return s.pgctl(ctx, "status") == nil
}

// pgctl runs pg_ctl on the cluster as the server's user.
func (s *Server) pgctl(ctx context.Context, args ...string) error {
	out, err := s.command(ctx, "pg_ctl", append([]string{"-D", filepath.Join(s.dir, dataDir)}, args...)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("pg_ctl %s: %w: %s", args[0], err, strings.TrimSpace(string(out)))
	}
	return nil
}

// command prepares a PostgreSQL program with a clean environment (no PG*
// variables, C locale so that messages are English) as the server's user.
func (s *Server) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, filepath.Join(s.bin, name), args...)
	cmd.Env = []string{"PATH=/usr/bin:/bin", "LC_ALL=C", "LANG=C"}
	cmd.Dir = s.dir
	if s.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
	}
	return cmd
}

// ping logs in as the admin over TCP, as the database step will.
func (s *Server) ping(ctx context.Context) error {
	cfg, err := pgx.ParseConfig(fmt.Sprintf("host=%s port=%d user=%s dbname=%s sslmode=disable connect_timeout=10",
		s.host, s.port, AdminUser, AdminDatabase))
	if err != nil {
		return err
	}
	cfg.Password = s.password
	if s.caPEM != nil {
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(s.caPEM)
		cfg.TLSConfig = &tls.Config{RootCAs: pool, ServerName: s.host.String(), MinVersion: tls.VersionTLS12}
	}
	cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	conn, err := pgx.ConnectConfig(cctx, cfg)
	if err != nil {
		return err
	}
	return conn.Close(cctx)
}

// logTail returns the end of the server log, for error messages.
func (s *Server) logTail() string {
	b, _ := os.ReadFile(s.LogPath())
	const max = 2048
	if len(b) > max {
		b = b[len(b)-max:]
	}
	return strings.TrimSpace(string(b))
}

// loadOrCreatePassword returns the admin password kept in path, generating
// and keeping one on the first start.
func loadOrCreatePassword(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err == nil && len(strings.TrimSpace(string(b))) > 0 {
		return strings.TrimSpace(string(b)), nil
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("demopg: %w", err)
	}
	raw := make([]byte, 18)
	if _, err := rand.Read(raw); err != nil {
		return "", fmt.Errorf("demopg: password: %w", err)
	}
	pw := base64.RawURLEncoding.EncodeToString(raw)
	if err := atomicfile.WriteFile(path, []byte(pw+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("demopg: %w", err)
	}
	return pw, nil
}

// serverCertificate loads the demo CA (making it on the first TLS start)
// and issues a fresh server certificate for the listen address into the
// cluster, so that a changed bridge address is covered.
func (s *Server) serverCertificate() error {
	certPath, keyPath := filepath.Join(s.dir, caCertFile), filepath.Join(s.dir, caKeyFile)
	var ca *localca.CA
	certPEM, err1 := os.ReadFile(certPath)
	keyPEM, err2 := os.ReadFile(keyPath)
	if err1 == nil && err2 == nil {
		var err error
		if ca, err = localca.Load(certPEM, keyPEM); err != nil {
			return fmt.Errorf("demopg: the demo CA in %s: %w", s.dir, err)
		}
	} else {
		now := time.Now()
		var err error
		if ca, err = localca.New("carto-setup demo database CA", now.Add(-time.Hour), now.AddDate(10, 0, 0)); err != nil {
			return fmt.Errorf("demopg: %w", err)
		}
		keyPEM, err := ca.KeyPEM()
		if err != nil {
			return fmt.Errorf("demopg: %w", err)
		}
		if err := atomicfile.WriteFile(keyPath, keyPEM, 0o600); err != nil {
			return fmt.Errorf("demopg: %w", err)
		}
		if err := atomicfile.WriteFile(certPath, ca.PEM, 0o600); err != nil {
			return fmt.Errorf("demopg: %w", err)
		}
	}
	leaf, leafKey, err := ca.Issue(localca.Leaf{Hosts: []string{s.host.String()}, NotAfter: time.Now().AddDate(1, 0, 0)})
	if err != nil {
		return fmt.Errorf("demopg: %w", err)
	}
	data := filepath.Join(s.dir, dataDir)
	if err := s.writeOwned(filepath.Join(data, "server.crt"), leaf); err != nil {
		return err
	}
	if err := s.writeOwned(filepath.Join(data, "server.key"), leafKey); err != nil {
		return err
	}
	s.caPEM = ca.PEM
	return nil
}

// state is what Start keeps between starts.
type state struct {
	Port int `json:"port"`
}

func (s *Server) lastPort() int {
	b, err := os.ReadFile(filepath.Join(s.dir, stateFile))
	if err != nil {
		return 0
	}
	var st state
	if json.Unmarshal(b, &st) != nil {
		return 0
	}
	return st.Port
}

func (s *Server) saveState() error {
	b, _ := json.Marshal(state{Port: s.port})
	if err := atomicfile.WriteFile(filepath.Join(s.dir, stateFile), b, 0o600); err != nil {
		return fmt.Errorf("demopg: %w", err)
	}
	return nil
}

// candidatePorts lists the ports Start tries in order: the one asked for
// alone; else the last start's and DefaultPort when they are free, then
// two free ports, in case another program takes one between the test and
// the server's bind.
func candidatePorts(asked, last int, addr netip.Addr) []int {
	if asked > 0 {
		return []int{asked}
	}
	var out []int
	for _, p := range []int{last, DefaultPort} {
		if p > 0 && !slices.Contains(out, p) && portFree(addr, p) {
			out = append(out, p)
		}
	}
	for range 2 {
		if p := freePort(addr); p > 0 && !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}

func portFree(addr netip.Addr, port int) bool {
	l, err := net.Listen("tcp", net.JoinHostPort(addr.String(), strconv.Itoa(port)))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

func freePort(addr netip.Addr) int {
	l, err := net.Listen("tcp", net.JoinHostPort(addr.String(), "0"))
	if err != nil {
		return 0
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
