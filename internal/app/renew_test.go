package app

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/letsencrypt/pebble/v2/ca"
	"github.com/letsencrypt/pebble/v2/db"
	"github.com/letsencrypt/pebble/v2/va"
	"github.com/letsencrypt/pebble/v2/wfe"
	"github.com/miekg/dns"

	"github.com/carto-setup/carto-setup/internal/acmeissue"
	"github.com/carto-setup/carto-setup/internal/certcheck"
	"github.com/carto-setup/carto-setup/internal/cli"
	"github.com/carto-setup/carto-setup/internal/compose"
	"github.com/carto-setup/carto-setup/internal/config"
	"github.com/carto-setup/carto-setup/internal/demo/release"
	"github.com/carto-setup/carto-setup/internal/deploy"
	"github.com/carto-setup/carto-setup/internal/domaincheck"
	"github.com/carto-setup/carto-setup/internal/engine"
	"github.com/carto-setup/carto-setup/internal/fileaccess"
	"github.com/carto-setup/carto-setup/internal/renew"
	"github.com/carto-setup/carto-setup/internal/selfsigned"
	"github.com/carto-setup/carto-setup/internal/testenv"
	"github.com/carto-setup/carto-setup/internal/wizard"
)

const renewDomain = "carto.renew.test"

// renewOutput collects output written from several goroutines (Pebble's
// log, the program's stderr).
type renewOutput struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *renewOutput) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *renewOutput) String() string { b.mu.Lock(); defer b.mu.Unlock(); return b.buf.String() }

// renewPebble is an in-process Pebble whose validation authority resolves
// names with the test's DNS server and fetches challenges from httpPort.
type renewPebble struct {
	directoryURL string
	caFile       string // the PEM of the directory's TLS certificate
	roots        *x509.CertPool
}

func startRenewPebble(t *testing.T, httpPort int, resolver string, validity time.Duration) *renewPebble {
	t.Helper()
	// Validate at once, never reject nonces at random, never reuse an
	// authorization, so every order really exercises port 80.
	t.Setenv("PEBBLE_VA_NOSLEEP", "1")
	t.Setenv("PEBBLE_WFE_NONCEREJECT", "0")
	t.Setenv("PEBBLE_AUTHZREUSE", "0")
	logs := &renewOutput{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("pebble log:\n%s", logs)
		}
	})
	logger := log.New(logs, "pebble ", log.Lmicroseconds)
	store := db.NewMemoryStore()
	authority := ca.New(logger, store, "", "ecdsa", 0, 1, map[string]ca.Profile{
		"default": {Description: "short-lived", ValidityPeriod: uint64(validity / time.Second)},
	})
	validator := va.New(logger, httpPort, 0, false, resolver, store)
	frontEnd := wfe.New(logger, store, validator, authority, []string{"pebble.letsencrypt.org"}, false, false, 0, 0)
	srv := httptest.NewTLSServer(frontEnd.Handler())
	t.Cleanup(srv.Close)

	caFile := filepath.Join(t.TempDir(), "pebble-tls-ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(authority.GetRootCert(0).Cert)
	return &renewPebble{directoryURL: srv.URL + wfe.DirectoryPath, caFile: caFile, roots: roots}
}

// startRenewDNS answers A queries for name with 127.0.0.1, over UDP (Go's
// resolver) and TCP (Pebble's) on the same loopback port.
func startRenewDNS(t *testing.T, name string) string {
	t.Helper()
	handler := dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		if len(q.Question) == 1 && strings.EqualFold(q.Question[0].Name, dns.Fqdn(name)) {
			if q.Question[0].Qtype == dns.TypeA {
				m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: q.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.IPv4(127, 0, 0, 1)})
			}
		} else {
			m.Rcode = dns.RcodeNameError
		}
		_ = w.WriteMsg(m)
	})
	for range 20 {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ln, err := net.Listen("tcp", pc.LocalAddr().String())
		if err != nil {
			pc.Close() // the TCP port is taken: try another
			continue
		}
		udp := &dns.Server{PacketConn: pc, Handler: handler}
		tcp := &dns.Server{Listener: ln, Handler: handler}
		go func() { _ = udp.ActivateAndServe() }()
		go func() { _ = tcp.ActivateAndServe() }()
		t.Cleanup(func() { _ = udp.Shutdown(); _ = tcp.Shutdown() })
		return pc.LocalAddr().String()
	}
	t.Fatal("no loopback port free for both UDP and TCP")
	return ""
}

func renewFreePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// renewWith runs `carto-setup renew` for cfg with router standing in for
// router-http, through the same wiring as the command.
func renewWith(ctx context.Context, cfg config.Config, within time.Duration, router renew.Router, stdout, stderr io.Writer) error {
	args := []string{"--dir", cfg.Dir, "--state-dir", cfg.StateDir, "--http-addr", cfg.HTTPAddr, "--within", within.String()}
	for flag, v := range map[string]string{"--acme-directory": cfg.ACMEDirectory, "--acme-ca-file": cfg.ACMECAFile, "--resolver": cfg.Resolver, "--project": cfg.Project} {
		if v != "" {
			args = append(args, flag, v)
		}
	}
	env := newEnv(func(string) string { return "" }, stdout, stderr, options{now: time.Now})
	return cli.RenewWith(ctx, env, args, router)
}

// renewPortRouter stands in for router-http: while "running" it holds the
// loopback port that plays port 80, as the real one holds port 80.
type renewPortRouter struct {
	addr  string
	ln    net.Listener
	calls []string
}

func (r *renewPortRouter) Start(ctx context.Context) error {
	r.calls = append(r.calls, "start")
	ln, err := net.Listen("tcp", r.addr)
	if err != nil {
		return fmt.Errorf("router-http cannot bind %s: %w", r.addr, err)
	}
	r.ln = ln
	return nil
}

func (r *renewPortRouter) Stop(ctx context.Context) error {
	r.calls = append(r.calls, "stop")
	if r.ln != nil {
		r.ln.Close()
		r.ln = nil
	}
	return nil
}

// renewSetup is an installed stack whose ACME certificate, issued by Pebble,
// lives for an hour.
type renewSetup struct {
	cfg            config.Config
	pebble         *renewPebble
	router         *renewPortRouter
	store          *wizard.FileStore
	oldCert        []byte
	oldKey         []byte
	oldFingerprint string
}

func newRenewSetup(t *testing.T) *renewSetup {
	t.Helper()
	port := renewFreePort(t)
	resolver := startRenewDNS(t, renewDomain)
	p := startRenewPebble(t, port, resolver, time.Hour)
	dir := t.TempDir()
	s := &renewSetup{pebble: p, cfg: config.Config{
		Dir: dir, StateDir: filepath.Join(dir, ".carto-setup"), HTTPAddr: "127.0.0.1:" + strconv.Itoa(port),
		ACMEDirectory: p.directoryURL, ACMECAFile: p.caFile, Resolver: resolver, Project: "renewtest",
	}}
	if err := s.cfg.EnsureStateDir(); err != nil {
		t.Fatal(err)
	}

	// The first certificate, obtained the way the wizard's TLS step does.
	challenges := acmeissue.NewHTTPResponder()
	p80 := &port80{log: slog.New(slog.DiscardHandler), binder: domaincheck.DirectPort80{Addr: s.cfg.HTTPAddr}, handler: challenges, idle: time.Minute}
	ac, err := newACME(s.cfg, p80, challenges)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	certPEM, keyPEM, account, err := ac.Obtain(ctx, renewDomain, "admin@example.com", p.directoryURL, nil)
	p80.Close()
	if err != nil {
		t.Fatalf("first issuance: %v", err)
	}
	rep := certcheck.Lint(certcheck.Input{Domain: renewDomain, CertPEM: certPEM, KeyPEM: keyPEM}, time.Now(), p.roots)
	if !rep.Usable() {
		t.Fatalf("first certificate unusable: %+v", rep.Results)
	}
	s.oldCert, s.oldKey, s.oldFingerprint = rep.FullChainPEM, rep.KeyPEM, rep.Fingerprint

	// What the wizard's state and the install hold afterwards.
	s.store = wizard.NewFileStore(filepath.Join(s.cfg.StateDir, "state.json"), time.Now)
	if _, err := s.store.Update(func(st *wizard.State) error {
		st.Domain.Domain = renewDomain
		st.TLS = wizard.TLSInput{Mode: wizard.TLSACME, CertPEM: string(s.oldCert), KeyPEM: string(s.oldKey), Fingerprint: s.oldFingerprint,
			ACMEEmail: "admin@example.com", ACMEDirectory: p.directoryURL, ACMEAccount: string(account)}
		st.MarkDone(wizard.TLS)
		st.MarkDone(wizard.Install)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	certs := filepath.Join(dir, deploy.CertsDir)
	os.MkdirAll(certs, deploy.DirPerm)
	os.WriteFile(filepath.Join(certs, deploy.RouterCertFile), s.oldCert, deploy.FilePerm)
	os.WriteFile(filepath.Join(certs, deploy.RouterKeyFile), s.oldKey, deploy.FilePerm)

	s.router = &renewPortRouter{addr: s.cfg.HTTPAddr}
	if err := s.router.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	s.router.calls = nil
	t.Cleanup(func() { s.router.Stop(context.Background()) })
	return s
}

func (s *renewSetup) files(t *testing.T) (cert, key []byte) {
	t.Helper()
	certs := filepath.Join(s.cfg.Dir, deploy.CertsDir)
	cert, err := os.ReadFile(filepath.Join(certs, deploy.RouterCertFile))
	if err != nil {
		t.Fatal(err)
	}
	key, err = os.ReadFile(filepath.Join(certs, deploy.RouterKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}

func (s *renewSetup) run(t *testing.T, within time.Duration) (stdout, stderr string, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	var out, errOut renewOutput
	err = renewWith(ctx, s.cfg, within, s.router, &out, &errOut)
	return out.String(), errOut.String(), err
}

// TestRenewAgainstPebble renews a one-hour certificate from Pebble: the
// router is stopped before port 80 is bound and started after it is
// released, the new files and the state agree, and a second run finds
// nothing due.
func TestRenewAgainstPebble(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the Pebble test")
	}
	s := newRenewSetup(t)

	stdout, stderr, err := s.run(t, 30*24*time.Hour)
	if err != nil {
		t.Fatalf("renew: %v\nstdout: %s\nstderr: %s", err, stdout, stderr)
	}
	if !strings.Contains(stdout, "renewed the certificate for "+renewDomain) {
		t.Errorf("stdout = %q, want the renewal reported", stdout)
	}
	if got := strings.Join(s.router.calls, ","); got != "stop,start" {
		t.Errorf("router calls = %s, want stop,start", got)
	}
	if s.router.ln == nil {
		t.Error("router-http is not running after the renewal")
	}

	cert, key := s.files(t)
	if bytes.Equal(cert, s.oldCert) || bytes.Equal(key, s.oldKey) {
		t.Fatal("certs/ still holds the old certificate or key")
	}
	rep := certcheck.Lint(certcheck.Input{Domain: renewDomain, CertPEM: cert, KeyPEM: key}, time.Now(), s.pebble.roots)
	for _, id := range []string{certcheck.IDSAN, certcheck.IDKeyMatch, certcheck.IDChain, certcheck.IDValidity} {
		if r := renewCheckStatus(rep, id); r != "pass" {
			t.Errorf("new certificate: %s = %s", id, r)
		}
	}
	if !strings.Contains(rep.Issuer, "Pebble Intermediate CA") {
		t.Errorf("issuer = %q, want Pebble's", rep.Issuer)
	}
	if left := time.Until(rep.NotAfter); left > time.Hour || left < 50*time.Minute {
		t.Errorf("the new certificate lives %s, want Pebble's one-hour profile", left)
	}
	for _, name := range []string{deploy.RouterCertFile, deploy.RouterKeyFile} {
		if fi, err := os.Stat(filepath.Join(s.cfg.Dir, deploy.CertsDir, name)); err != nil || fi.Mode().Perm() != deploy.FilePerm {
			t.Errorf("%s: mode %v, %v; want %v", name, fi.Mode().Perm(), err, os.FileMode(deploy.FilePerm))
		}
	}
	st, err := s.store.Load()
	if err != nil {
		t.Fatal(err)
	}
	if st.TLS.CertPEM != string(cert) || st.TLS.KeyPEM != string(key) || st.TLS.Fingerprint != rep.Fingerprint || st.TLS.Fingerprint == s.oldFingerprint {
		t.Error("the state does not hold the renewed certificate, key and fingerprint")
	}
	if !st.Done[wizard.Install] || !st.Done[wizard.TLS] {
		t.Error("the renewal reset the wizard's progress")
	}
	if !strings.Contains(stdout, rep.Fingerprint) {
		t.Errorf("stdout does not name the new fingerprint: %q", stdout)
	}

	// A certificate with most of its hour left is not due within ten
	// minutes: nothing is stopped.
	s.router.calls = nil
	stdout, stderr, err = s.run(t, 10*time.Minute)
	if err != nil || !strings.Contains(stdout, "not due") {
		t.Fatalf("second run = %v; stdout %q, stderr %q; want not due", err, stdout, stderr)
	}
	if len(s.router.calls) != 0 {
		t.Errorf("router calls %v on a run that was not due", s.router.calls)
	}
}

// TestRenewFailureKeepsOldCertificate makes Pebble's validation fail (the
// challenge is answered on another port than the one it fetches): the run
// exits 1, says why, restarts router-http and leaves the old certificate
// in certs/ and in the state.
func TestRenewFailureKeepsOldCertificate(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the Pebble test")
	}
	s := newRenewSetup(t)
	s.cfg.HTTPAddr = "127.0.0.1:" + strconv.Itoa(renewFreePort(t))

	stdout, stderr, err := s.run(t, 30*24*time.Hour)
	var coded interface{ ExitCode() int }
	if !errors.As(err, &coded) || coded.ExitCode() != 1 {
		t.Fatalf("renew = %v, want exit status 1\nstdout: %s\nstderr: %s", err, stdout, stderr)
	}
	if !strings.Contains(stderr, "FAILED for "+renewDomain) || !strings.Contains(stderr, "port 80") || !strings.Contains(stderr, "old certificate stays") {
		t.Errorf("stderr = %q, want the challenge failure and that the old certificate stays", stderr)
	}
	if got := strings.Join(s.router.calls, ","); got != "stop,start" || s.router.ln == nil {
		t.Errorf("router calls = %s (running %v), want stop,start and running", got, s.router.ln != nil)
	}
	if cert, key := s.files(t); !bytes.Equal(cert, s.oldCert) || !bytes.Equal(key, s.oldKey) {
		t.Error("certs/ no longer holds the old certificate and key")
	}
	st, _ := s.store.Load()
	if st.TLS.CertPEM != string(s.oldCert) || st.TLS.Fingerprint != s.oldFingerprint {
		t.Error("the state no longer holds the old certificate")
	}
}

func TestRenewCommandRefusesMissingState(t *testing.T) {
	dir := t.TempDir()
	var out, errOut renewOutput
	err := Run(t.Context(), []string{"carto-setup", "renew", "--dir", dir, "--http-addr", "127.0.0.1:0"}, func(string) string { return "" }, &out, &errOut)
	var coded interface{ ExitCode() int }
	if !errors.As(err, &coded) || coded.ExitCode() != 1 || !strings.Contains(errOut.String(), "no wizard state") {
		t.Fatalf("renew without state = %v, stderr %q; want exit 1 naming the missing state", err, errOut.String())
	}
}

func renewCheckStatus(rep certcheck.Report, id string) string {
	for _, r := range rep.Results {
		if r.ID == id {
			return string(r.Status)
		}
	}
	return "missing"
}

// TestRenewStandinRouter renews against Pebble with the stand-in release's
// router-http container run by the host's docker-compose: the real `stop`
// frees the published port for the challenge, the files are replaced in
// certs/, and after the real `start` the container serves the new
// certificate on its HTTPS port.
func TestRenewStandinRouter(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the Docker test")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 8*time.Minute)
	defer cancel()
	eng, err := engine.New(ctx)
	if err != nil {
		testenv.Missing(t, "Docker Engine", "install Docker Engine 20.10+ and start it: "+err.Error())
	}
	t.Cleanup(func() { eng.Close() })
	tool, err := compose.Detect(ctx, exec.LookPath, compose.Exec)
	if err != nil {
		testenv.Missing(t, "Docker Compose", "apt-get install docker-compose: "+err.Error())
	}
	goBin := testenv.LookPath(t, "go", "install Go 1.26")

	// The stand-in image, under a version of this test's own.
	id := strconv.FormatInt(time.Now().UnixNano()%1e9, 36)
	version, project := "2026.8.11-renewtest."+id, "renewtest"+id
	bin := filepath.Join(t.TempDir(), "carto-setup")
	build := exec.CommandContext(ctx, goBin, "build", "-trimpath", "-o", bin, "github.com/carto-setup/carto-setup/internal/demo/standin/testdata/standinmain")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	var progress bytes.Buffer
	if err := release.BuildImages(ctx, eng, bin, version, &progress); err != nil {
		t.Fatalf("build the stand-in image: %v\n%s", err, progress.String())
	}
	t.Cleanup(func() { _ = release.RemoveImages(context.Background(), eng, version) })

	// Pebble, the DNS server, and the first one-hour certificate.
	httpPort, httpsPort := renewFreePort(t), renewFreePort(t)
	resolver := startRenewDNS(t, renewDomain)
	p := startRenewPebble(t, httpPort, resolver, time.Hour)
	dir := filepath.Join(t.TempDir(), "carto-selfhosted")
	if err := release.Write(dir, version); err != nil {
		t.Fatal(err)
	}
	cfg := config.Config{Dir: dir, StateDir: filepath.Join(dir, ".carto-setup"), HTTPAddr: "127.0.0.1:" + strconv.Itoa(httpPort),
		ACMEDirectory: p.directoryURL, ACMECAFile: p.caFile, Resolver: resolver, Project: project}
	if err := cfg.EnsureStateDir(); err != nil {
		t.Fatal(err)
	}
	challenges := acmeissue.NewHTTPResponder()
	p80 := &port80{log: slog.New(slog.DiscardHandler), binder: domaincheck.DirectPort80{Addr: cfg.HTTPAddr}, handler: challenges, idle: time.Minute}
	ac, err := newACME(cfg, p80, challenges)
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, account, err := ac.Obtain(ctx, renewDomain, "admin@example.com", p.directoryURL, nil)
	p80.Close()
	if err != nil {
		t.Fatalf("first issuance: %v", err)
	}
	rep := certcheck.Lint(certcheck.Input{Domain: renewDomain, CertPEM: certPEM, KeyPEM: keyPEM}, time.Now(), p.roots)
	oldFingerprint := rep.Fingerprint

	// The install: the wizard's state, and deploy's files for it.
	keyJSON, err := release.SampleKeyJSON()
	if err != nil {
		t.Fatal(err)
	}
	store := wizard.NewFileStore(filepath.Join(cfg.StateDir, "state.json"), time.Now)
	st, err := store.Update(func(st *wizard.State) error {
		st.Package = wizard.PackageInput{KeyJSON: string(keyJSON), CustomerEnv: string(release.SampleCustomerEnv(renewDomain)) +
			fmt.Sprintf("\nROUTER_HTTP_PORT=%d\nROUTER_HTTPS_PORT=%d\nROUTER_METRICS_PORT=%d\n", httpPort, httpsPort, renewFreePort(t))}
		st.Domain.Domain = renewDomain
		st.Database.Mode, st.Cache.Mode, st.Buckets.Mode = wizard.ModeEmbedded, wizard.ModeEmbedded, wizard.BucketsCartoManaged
		st.TLS = wizard.TLSInput{Mode: wizard.TLSACME, CertPEM: string(rep.FullChainPEM), KeyPEM: string(rep.KeyPEM), Fingerprint: oldFingerprint,
			ACMEEmail: "admin@example.com", ACMEDirectory: p.directoryURL, ACMEAccount: string(account)}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Installed as the wizard installs: the router's files readable by
	// exactly router-http's image user (uid 101 in the stand-in), and the
	// record of what was written in the state directory.
	plan, err := deploy.NewPlanWith(st, dir, deploy.PlanOptions{StateDir: cfg.StateDir})
	if err != nil {
		t.Fatalf("plan: %v", err)
	}
	users, err := deploy.ServiceUsers(ctx, eng, plan, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	if err := deploy.ApplyWith(plan, deploy.ApplyOptions{Now: time.Now(), Users: users}); err != nil {
		t.Fatal(err)
	}
	routerUID := users[renew.RouterService].UID
	if routerUID == 0 {
		t.Fatalf("router-http's image user is root (%+v); the stand-in must run it as its own user", users)
	}
	composeRun := func(sub ...string) {
		t.Helper()
		argv := tool.Args(project, dir, sub...)
		if out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(sub, " "), err, out)
		}
	}
	t.Cleanup(func() {
		argv := tool.Args(project, dir, "down", "--volumes", "--remove-orphans")
		if out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput(); err != nil {
			t.Errorf("compose down: %v\n%s", err, out)
		}
	})
	composeRun("up", "-d", "--no-deps", renew.RouterService)
	httpsAddr := "127.0.0.1:" + strconv.Itoa(httpsPort)
	if got := renewServedFingerprint(t, httpsAddr, oldFingerprint); got != oldFingerprint {
		t.Fatalf("router-http serves %s, want the installed %s", got, oldFingerprint)
	}

	var stdout, stderr renewOutput
	err = Run(ctx, []string{"carto-setup", "renew", "--dir", dir, "--state-dir", cfg.StateDir, "--within", "720h", "--project", project,
		"--http-addr", cfg.HTTPAddr, "--acme-ca-file", p.caFile, "--resolver", resolver}, func(string) string { return "" }, &stdout, &stderr)
	if err != nil {
		t.Fatalf("renew: %v\nstdout: %s\nstderr: %s", err, &stdout, &stderr)
	}
	after, err := store.Load()
	if err != nil {
		t.Fatal(err)
	}
	if after.TLS.Fingerprint == oldFingerprint {
		t.Fatalf("the state still holds the old certificate; stdout: %s", &stdout)
	}
	if got := renewServedFingerprint(t, httpsAddr, after.TLS.Fingerprint); got != after.TLS.Fingerprint {
		t.Errorf("after the renewal router-http serves %s, want the new %s", got, after.TLS.Fingerprint)
	}
	installed, err := os.ReadFile(filepath.Join(dir, deploy.CertsDir, deploy.RouterCertFile))
	if err != nil || string(installed) != after.TLS.CertPEM {
		t.Errorf("certs/%s does not hold the state's new certificate: %v", deploy.RouterCertFile, err)
	}
	// The renewed files kept their one reader, and the record names their
	// new content as carto-setup's own write, so the next install does
	// not take them for a hand edit.
	rec, ok, err := deploy.LoadRecord(cfg.StateDir)
	if err != nil || !ok {
		t.Fatalf("no install record: %v", err)
	}
	for _, name := range []string{deploy.RouterCertFile, deploy.RouterKeyFile} {
		path := filepath.Join(dir, deploy.CertsDir, name)
		if got, err := fileaccess.Readers(path); err != nil || !slices.Equal(got, []int{routerUID}) {
			t.Errorf("after the renewal certs/%s is readable by uids %v (%v), want only router-http's %d", name, got, err, routerUID)
		}
		data, _ := os.ReadFile(path)
		if sum := sha256.Sum256(data); rec.Files[filepath.Join(deploy.CertsDir, name)].SHA256 != hex.EncodeToString(sum[:]) {
			t.Errorf("the install record does not hold the renewed certs/%s", name)
		}
	}
	replan, err := deploy.NewPlanWith(after, dir, deploy.PlanOptions{StateDir: cfg.StateDir})
	if err != nil {
		t.Fatal(err)
	}
	if open := replan.Report().Open(); len(open) > 0 {
		t.Errorf("the next install takes the renewed files for hand edits: %v", open)
	}
	t.Logf("stdout: %s", &stdout)
}

// renewServedFingerprint returns the SHA-256 fingerprint of the certificate the
// server at addr presents, waiting up to a minute for want (the container
// needs a moment to start).
func renewServedFingerprint(t *testing.T, addr, want string) string {
	t.Helper()
	var got string
	deadline := time.Now().Add(time.Minute)
	for {
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 2 * time.Second}, "tcp", addr, &tls.Config{ServerName: renewDomain, InsecureSkipVerify: true})
		if err == nil {
			got = selfsigned.Fingerprint(conn.ConnectionState().PeerCertificates[0].Raw)
			conn.Close()
			if got == want {
				return got
			}
		}
		if time.Now().After(deadline) {
			return got
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// TestRenewNotACME: a timer installed for an upload or self-signed
// certificate exits 0 and says there is nothing to renew, without touching
// router-http.
func TestRenewNotACME(t *testing.T) {
	dir := t.TempDir()
	cfg := config.Config{Dir: dir, StateDir: filepath.Join(dir, ".carto-setup"), HTTPAddr: "127.0.0.1:0", Project: "renewtest"}
	if err := cfg.EnsureStateDir(); err != nil {
		t.Fatal(err)
	}
	store := wizard.NewFileStore(filepath.Join(cfg.StateDir, "state.json"), time.Now)
	if _, err := store.Update(func(st *wizard.State) error { st.TLS.Mode = wizard.TLSSelfSigned; return nil }); err != nil {
		t.Fatal(err)
	}
	router := &renewPortRouter{addr: "127.0.0.1:0"}
	var out, errOut renewOutput
	if err := renewWith(t.Context(), cfg, renew.DefaultWithin, router, &out, &errOut); err != nil {
		t.Fatalf("renew = %v; stderr %s", err, &errOut)
	}
	if !strings.Contains(out.String(), "nothing to renew") || !strings.Contains(out.String(), "self-signed") || len(router.calls) != 0 {
		t.Errorf("stdout %q, router calls %v; want nothing to renew and no calls", &out, router.calls)
	}
}
