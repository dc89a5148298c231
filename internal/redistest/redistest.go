package redistest

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/carto-setup/carto-setup/internal/pgtest"
	"github.com/carto-setup/carto-setup/internal/testenv"
)

const installHint = "apt-get install redis-server"

// Options shapes the server Start runs.
type Options struct {
	// Password sets requirepass; empty means no authentication.
	Password string
	// TLS serves TLS only (tls-port, with port 0) with a certificate issued
	// by CA, or by a CA generated for the test.
	TLS bool
	// CA issues the server certificate; nil means a new CA.
	CA *pgtest.CA
	// CertHosts are the server certificate's SANs; empty means localhost
	// and 127.0.0.1.
	CertHosts []string
	// CertNotAfter ends the certificate's validity; zero means a day from
	// now.
	CertNotAfter time.Time
	// ClientCert makes the server require client certificates signed by
	// the CA (tls-auth-clients yes).
	ClientCert bool
}

// Server is a running redis-server. CAPEM is set when TLS is on.
type Server struct {
	Host     string
	Port     int
	Password string
	TLS      bool
	CA       *pgtest.CA
	CAPEM    []byte
	Dir      string
	LogPath  string
}

// Start runs redis-server until the test ends.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	bin := testenv.LookPath(t, "redis-server", installHint)
	dir := t.TempDir()
	s := &Server{Host: "127.0.0.1", Password: opts.Password, TLS: opts.TLS || opts.ClientCert, Dir: dir,
		LogPath: filepath.Join(dir, "redis.log")}

	args := []string{"--bind", "127.0.0.1", "--dir", dir, "--save", "", "--appendonly", "no",
		"--daemonize", "no", "--logfile", s.LogPath, "--protected-mode", "no"}
	if opts.Password != "" {
		args = append(args, "--requirepass", opts.Password)
	}
	if s.TLS {
		s.CA = opts.CA
		if s.CA == nil {
			s.CA = pgtest.NewCA(t)
		}
		s.CAPEM = s.CA.PEM
		hosts := opts.CertHosts
		if len(hosts) == 0 {
			hosts = []string{"localhost", "127.0.0.1"}
		}
		certPEM, keyPEM := s.CA.Issue(t, pgtest.Leaf{Hosts: hosts, NotAfter: opts.CertNotAfter})
		certFile, keyFile, caFile := filepath.Join(dir, "server.crt"), filepath.Join(dir, "server.key"), filepath.Join(dir, "ca.crt")
		for f, b := range map[string][]byte{certFile: certPEM, keyFile: keyPEM, caFile: s.CA.PEM} {
			if err := os.WriteFile(f, b, 0o600); err != nil {
				t.Fatalf("redistest: write %s: %v", f, err)
			}
		}
		auth := "no"
		if opts.ClientCert {
			auth = "yes"
		}
		args = append(args, "--tls-cert-file", certFile, "--tls-key-file", keyFile,
			"--tls-ca-cert-file", caFile, "--tls-auth-clients", auth)
	}

	var lastLog string
	for attempt := 0; attempt < 3; attempt++ {
		s.Port = testenv.FreePort(t)
		portArgs := []string{"--port", strconv.Itoa(s.Port)}
		if s.TLS {
			portArgs = []string{"--port", "0", "--tls-port", strconv.Itoa(s.Port)}
		}
		ok, log := s.run(t, bin, append(portArgs, args...))
		if ok {
			return s
		}
		lastLog = log
		if !strings.Contains(log, "in use") {
			break
		}
	}
	t.Fatalf("redistest: redis-server did not start:\n%s", lastLog)
	return nil
}

func (s *Server) run(t testing.TB, bin string, args []string) (bool, string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	out, err := os.Create(filepath.Join(s.Dir, "stdout.log"))
	if err != nil {
		t.Fatalf("redistest: stdout file: %v", err)
	}
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		if os.IsNotExist(err) {
			testenv.Missing(t, "redis-server", installHint)
		}
		t.Fatalf("redistest: start redis-server: %v", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()

	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return false, s.Log()
		case <-time.After(50 * time.Millisecond):
		}
		if strings.Contains(s.Log(), "Ready to accept connections") {
			t.Cleanup(func() { stop(cmd, exited) })
			return true, ""
		}
	}
	stop(cmd, exited)
	return false, s.Log()
}

func stop(cmd *exec.Cmd, exited <-chan struct{}) {
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		<-exited
	}
}

// Log returns the server's log so far, and anything it printed before the
// log file was opened.
func (s *Server) Log() string {
	a, _ := os.ReadFile(filepath.Join(s.Dir, "stdout.log"))
	b, _ := os.ReadFile(s.LogPath)
	return string(a) + string(b)
}

// Addr returns host:port.
func (s *Server) Addr() string { return net.JoinHostPort(s.Host, strconv.Itoa(s.Port)) }

// TLSConfig returns a client configuration that trusts the server's CA, for
// tests that talk to the server directly.
func (s *Server) TLSConfig() *tls.Config {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(s.CAPEM)
	return &tls.Config{RootCAs: pool, ServerName: "localhost", MinVersion: tls.VersionTLS12}
}
