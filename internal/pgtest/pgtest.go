package pgtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/carto-setup/carto-setup/internal/pgbin"
	"github.com/carto-setup/carto-setup/internal/testenv"
)

// Options shapes the cluster Start creates. The zero value is a plain server
// on 127.0.0.1 with SCRAM password authentication.
type Options struct {
	// TLS turns on ssl=on with a server certificate issued by CA (or by a
	// CA generated for the test).
	TLS bool
	// ClientCert makes TCP connections require a client certificate
	// signed by the CA (hostssl ... clientcert=verify-full). It implies TLS.
	ClientCert bool
	// ListenAddrs are extra addresses to listen on besides 127.0.0.1, for
	// example the Docker bridge 172.17.0.1. Addresses that cannot be bound
	// are logged by PostgreSQL and otherwise ignored. When set, the default
	// rules also admit clients from the listening addresses' subnets.
	ListenAddrs []string
	// HBA, when set, replaces the default TCP rules of pg_hba.conf. The
	// Unix-socket rule the Exec helpers rely on is always kept.
	HBA []string
	// CA issues the server certificate; nil means a new CA.
	CA *CA
	// CertHosts are the server certificate's SANs; empty means
	// localhost and 127.0.0.1.
	CertHosts []string
	// CertNotAfter ends the server certificate's validity; zero means a day
	// from now, a time in the past gives an expired certificate.
	CertNotAfter time.Time
}

// Server is a running cluster. User and Password belong to a superuser that
// logs in with SCRAM; CAPEM is the CA that issued the server certificate when
// TLS is on.
type Server struct {
	Host      string
	Port      int
	User      string
	Password  string
	CA        *CA
	CAPEM     []byte
	DataDir   string
	SocketDir string
	LogPath   string
}

// Start creates and starts a cluster and registers its shutdown and removal
// with t.Cleanup. As root, initdb and postgres run as the postgres system
// user, since PostgreSQL refuses to run as root.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	bin := findBinDir(t)
	cred := runAs(t)

	base, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		t.Fatalf("pgtest: temp dir: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	// The postgres user must be able to traverse the directory.
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatalf("pgtest: chmod: %v", err)
	}
	s := &Server{
		Host:      "127.0.0.1",
		User:      "postgres",
		Password:  randomHex(t, 16),
		DataDir:   filepath.Join(base, "data"),
		SocketDir: filepath.Join(base, "sock"),
		LogPath:   filepath.Join(base, "postgres.log"),
	}
	for _, d := range []string{s.DataDir, s.SocketDir} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatalf("pgtest: mkdir: %v", err)
		}
		chown(t, d, cred)
	}
	pwfile := filepath.Join(base, "pwfile")
	writeOwned(t, pwfile, []byte(s.Password+"\n"), cred)

	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", s.DataDir, "-U", s.User,
		"--pwfile="+pwfile, "--auth=scram-sha-256", "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		t.Fatalf("pgtest: initdb: %v\n%s", err, out)
	}
	os.Remove(pwfile)

	tlsOn := opts.TLS || opts.ClientCert
	if tlsOn {
		s.CA = opts.CA
		if s.CA == nil {
			s.CA = NewCA(t)
		}
		s.CAPEM = s.CA.PEM
		hosts := opts.CertHosts
		if len(hosts) == 0 {
			hosts = []string{"localhost", "127.0.0.1"}
		}
		certPEM, keyPEM := s.CA.Issue(t, Leaf{Hosts: hosts, NotAfter: opts.CertNotAfter})
		writeOwned(t, filepath.Join(s.DataDir, "server.crt"), certPEM, cred)
		writeOwned(t, filepath.Join(s.DataDir, "server.key"), keyPEM, cred)
		writeOwned(t, filepath.Join(s.DataDir, "ca.crt"), s.CA.PEM, cred)
	}
	writeOwned(t, filepath.Join(s.DataDir, "pg_hba.conf"), []byte(hba(opts)), cred)

	var lastLog string
	for attempt := 0; attempt < 3; attempt++ {
		s.Port = testenv.FreePort(t)
		appendConf(t, s, opts, tlsOn)
		ok, log := s.run(t, bin, cred)
		if ok {
			return s
		}
		lastLog = log
		if !strings.Contains(log, "already in use") {
			break
		}
	}
	t.Fatalf("pgtest: postgres did not start:\n%s", lastLog)
	return nil
}

// run starts postgres and waits until it accepts connections. It reports
// false and the server log when the server exited or never became ready.
func (s *Server) run(t testing.TB, bin string, cred *syscall.Credential) (bool, string) {
	t.Helper()
	logFile, err := os.OpenFile(s.LogPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		t.Fatalf("pgtest: log file: %v", err)
	}
	defer logFile.Close()
	cmd := exec.Command(filepath.Join(bin, "postgres"), "-D", s.DataDir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatalf("pgtest: start postgres: %v", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()

	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return false, s.Log()
		case <-time.After(100 * time.Millisecond):
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		conn, err := s.socketConn(ctx)
		if err == nil {
			conn.Close(ctx)
			cancel()
			t.Cleanup(func() { stop(cmd, exited) })
			return true, ""
		}
		cancel()
	}
	stop(cmd, exited)
	return false, s.Log()
}

// stop asks for a fast shutdown and kills the server if it lingers.
func stop(cmd *exec.Cmd, exited <-chan struct{}) {
	cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-exited:
	case <-time.After(15 * time.Second):
		cmd.Process.Kill()
		<-exited
	}
}

// Log returns what the server has logged so far, for failure messages.
func (s *Server) Log() string {
	b, _ := os.ReadFile(s.LogPath)
	return string(b)
}

// Addr returns host:port of the TCP listener on 127.0.0.1.
func (s *Server) Addr() string { return net.JoinHostPort(s.Host, strconv.Itoa(s.Port)) }

// Conn opens a superuser connection to database over the Unix socket, which
// works whatever the TCP rules in pg_hba.conf are. It is closed in Cleanup.
func (s *Server) Conn(t testing.TB, database string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := s.connect(ctx, database)
	if err != nil {
		t.Fatalf("pgtest: connect as superuser: %v", err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// Exec runs one SQL statement as the superuser in the postgres database, for
// example to create a role without CREATEROLE or a pre-existing workspace
// database. CREATE DATABASE works because each call is its own statement.
func (s *Server) Exec(t testing.TB, sql string, args ...any) {
	t.Helper()
	s.ExecIn(t, "postgres", sql, args...)
}

// ExecIn is Exec in another database.
func (s *Server) ExecIn(t testing.TB, database, sql string, args ...any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := s.connect(ctx, database)
	if err != nil {
		t.Fatalf("pgtest: connect as superuser: %v", err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, sql, args...); err != nil {
		t.Fatalf("pgtest: exec %q: %v", sql, err)
	}
}

func (s *Server) socketConn(ctx context.Context) (*pgx.Conn, error) {
	return s.connect(ctx, "postgres")
}

func (s *Server) connect(ctx context.Context, database string) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(fmt.Sprintf("host=%s port=%d user=%s password=%s dbname=%s sslmode=disable",
		s.SocketDir, s.Port, s.User, s.Password, database))
	if err != nil {
		return nil, fmt.Errorf("pgtest: parse config: %w", err)
	}
	return pgx.ConnectConfig(ctx, cfg)
}

func hba(opts Options) string {
	var b strings.Builder
	b.WriteString("local all all scram-sha-256\n")
	if len(opts.HBA) > 0 {
		for _, l := range opts.HBA {
			b.WriteString(l + "\n")
		}
		return b.String()
	}
	kind, suffix := "host", ""
	if opts.ClientCert {
		kind, suffix = "hostssl", " clientcert=verify-full"
	}
	nets := []string{"127.0.0.1/32", "::1/128"}
	if len(opts.ListenAddrs) > 0 {
		nets = append(nets, "samenet")
	}
	for _, n := range nets {
		fmt.Fprintf(&b, "%s all all %s scram-sha-256%s\n", kind, n, suffix)
	}
	return b.String()
}

func appendConf(t testing.TB, s *Server, opts Options, tlsOn bool) {
	t.Helper()
	listen := append([]string{"127.0.0.1"}, opts.ListenAddrs...)
	var b bytes.Buffer
	fmt.Fprintf(&b, "\n# pgtest (last settings win)\n")
	fmt.Fprintf(&b, "listen_addresses = '%s'\n", strings.Join(listen, ","))
	fmt.Fprintf(&b, "port = %d\n", s.Port)
	fmt.Fprintf(&b, "unix_socket_directories = '%s'\n", s.SocketDir)
	b.WriteString("fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n")
	b.WriteString("shared_buffers = 16MB\nmax_connections = 30\nlogging_collector = off\n")
	b.WriteString("password_encryption = 'scram-sha-256'\n")
	if tlsOn {
		b.WriteString("ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n")
		if opts.ClientCert {
			b.WriteString("ssl_ca_file = 'ca.crt'\n")
		}
	} else {
		b.WriteString("ssl = off\n")
	}
	f, err := os.OpenFile(filepath.Join(s.DataDir, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatalf("pgtest: open postgresql.conf: %v", err)
	}
	defer f.Close()
	if _, err := f.Write(b.Bytes()); err != nil {
		t.Fatalf("pgtest: write postgresql.conf: %v", err)
	}
}

// findBinDir returns the directory of initdb and postgres (see
// internal/pgbin).
func findBinDir(t testing.TB) string {
	t.Helper()
	dir, err := pgbin.Dir()
	if err != nil {
		testenv.Missing(t, "PostgreSQL server (initdb, postgres)", pgbin.InstallHint)
	}
	return dir
}

// runAs returns the credential of the postgres system user when running as
// root, and nil (the current user) otherwise.
func runAs(t testing.TB) *syscall.Credential {
	t.Helper()
	cred, err := pgbin.SystemUser()
	switch {
	case errors.Is(err, pgbin.ErrNoSystemUser):
		testenv.Missing(t, "the postgres system user", pgbin.InstallHint)
	case err != nil:
		t.Fatalf("pgtest: %v", err)
	}
	return cred
}

func chown(t testing.TB, path string, cred *syscall.Credential) {
	t.Helper()
	if cred == nil {
		return
	}
	if err := os.Chown(path, int(cred.Uid), int(cred.Gid)); err != nil {
		t.Fatalf("pgtest: chown %s: %v", path, err)
	}
}

func writeOwned(t testing.TB, path string, data []byte, cred *syscall.Credential) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatalf("pgtest: write %s: %v", path, err)
	}
	chown(t, path, cred)
}

func randomHex(t testing.TB, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("pgtest: random: %v", err)
	}
	return hex.EncodeToString(b)
}
