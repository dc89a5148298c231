package demopg

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/carto-setup/carto-setup/internal/engine"
	"github.com/carto-setup/carto-setup/internal/pgbin"
	"github.com/carto-setup/carto-setup/internal/testenv"
)

func needPostgres(t *testing.T) {
	t.Helper()
	if _, err := pgbin.Dir(); err != nil {
		testenv.Missing(t, "PostgreSQL server (initdb, postgres, pg_ctl)", pgbin.InstallHint)
	}
}

func needEngine(t *testing.T, ctx context.Context) *engine.Client {
	t.Helper()
	eng, err := engine.New(ctx)
	if err != nil {
		testenv.Missing(t, "Docker Engine", "install Docker Engine 20.10+ and start it: "+err.Error())
	}
	t.Cleanup(func() { eng.Close() })
	return eng
}

func suffix() string {
	b := make([]byte, 4)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// stateDir makes <base>/state as carto-setup does (0700) under a base
// anyone may pass, as /home/<user> or /work is.
func stateDir(t *testing.T) string {
	t.Helper()
	base, err := os.MkdirTemp("", "demopg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(base, "state")
	if err := os.Mkdir(state, 0o700); err != nil {
		t.Fatal(err)
	}
	return state
}

// connect logs in from the host with what the database step would be
// prefilled with.
func connect(ctx context.Context, p Prefill) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(fmt.Sprintf("host=%s port=%d user=%s dbname=%s sslmode=disable connect_timeout=10", p.Host, p.Port, p.AdminUser, p.AdminDatabase))
	if err != nil {
		return nil, err
	}
	cfg.Password = p.AdminPassword
	if p.SSL {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(p.CAPEM) {
			return nil, errors.New("the prefilled CA is not PEM")
		}
		cfg.TLSConfig = &tls.Config{RootCAs: pool, ServerName: p.Host}
	}
	return pgx.ConnectConfig(ctx, cfg)
}

// pingImage builds a FROM-scratch image holding the static pgping program.
func pingImage(t *testing.T, ctx context.Context, eng *engine.Client) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "pgping")
	build := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", bin, "github.com/carto-setup/carto-setup/internal/demo/demopg/testdata/pgping")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build pgping: %v\n%s", err, out)
	}
	exe, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	tag := "carto-setup-demopg-test:" + suffix()
	t.Cleanup(func() { eng.RemoveImage(context.Background(), tag) })
	err = eng.BuildImage(ctx, tag, map[string]engine.BuildFile{"pgping": {Data: exe, Mode: 0o755}},
		"FROM scratch\nCOPY pgping /pgping\nUSER 65534:65534\nENTRYPOINT [\"/pgping\"]\n", nil)
	if err != nil {
		t.Fatal(err)
	}
	return tag
}

// projectNetwork creates the network Docker Compose would make for a
// project and returns its name and subnets as ProjectSubnets reads them.
func projectNetwork(t *testing.T, ctx context.Context, eng *engine.Client) (string, []netip.Prefix) {
	t.Helper()
	docker := testenv.LookPath(t, "docker", "apt-get install docker.io")
	project := "demopgtest" + suffix()
	name := project + "_default"
	out, err := exec.CommandContext(ctx, docker, "network", "create", "--label", engine.LabelComposeProject+"="+project, name).CombinedOutput()
	if err != nil {
		t.Fatalf("docker network create: %v\n%s", err, out)
	}
	t.Cleanup(func() { exec.Command(docker, "network", "rm", name).Run() })
	pn, err := eng.ProjectSubnets(ctx, project)
	if err != nil || !pn.Exist {
		t.Fatalf("ProjectSubnets = %+v, %v", pn, err)
	}
	return name, pn.Subnets
}

// TestStartReachableAndReused starts the demo database as --demo will, on
// the bridge gateway and admitting the Compose project's subnet, with TLS;
// logs in as the admin from the host and from a container on the
// project's network (the server sees the container's address); is refused
// from a container on the default bridge, which is not admitted; and, after
// Stop, starts again on the same cluster with the same password, port and
// CA, its data kept.
func TestStartReachableAndReused(t *testing.T) {
	t.Parallel()
	needPostgres(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	eng := needEngine(t, ctx)
	bridge, err := eng.DefaultBridge(ctx)
	if err != nil {
		t.Fatal(err)
	}
	network, subnets := projectNetwork(t, ctx, eng)
	image := pingImage(t, ctx, eng)

	dir := filepath.Join(stateDir(t), "demo-postgres")
	opts := Options{Dir: dir, ListenAddr: bridge.Gateway, AllowSubnets: subnets, TLS: true}
	srv, err := Start(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := Remove(context.Background(), dir); err != nil {
			t.Error(err)
		}
	})
	p := srv.Prefill()
	if p.Host != bridge.Gateway.String() || p.AdminUser != AdminUser || !p.SSL || p.SSLMode != "verify-full" || len(p.AdminPassword) < 20 {
		t.Fatalf("prefill %+v", redacted(p))
	}
	fi, err := os.Stat(filepath.Join(dir, passwordFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("password file: %v %v, want mode 0600", fi, err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, passwordFile)); strings.TrimSpace(string(b)) != p.AdminPassword {
		t.Fatal("the kept password is not the prefilled one")
	}

	conn, err := connect(ctx, p)
	if err != nil {
		t.Fatalf("admin login from the host: %v\n%s", err, srv.logTail())
	}
	var ssl bool
	if err := conn.QueryRow(ctx, "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").Scan(&ssl); err != nil || !ssl {
		t.Errorf("host session ssl = %v, %v; want TLS", ssl, err)
	}
	if _, err := conn.Exec(ctx, "CREATE TABLE kept (v text); INSERT INTO kept VALUES ('across starts')"); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)

	args := []string{p.Host, strconv.Itoa(p.Port), p.AdminUser, p.AdminPassword, string(p.CAPEM)}
	out, code, err := eng.RunOnce(ctx, engine.RunSpec{Image: image, Cmd: args, Network: network})
	if err != nil || code != 0 {
		t.Fatalf("admin login from a container on %s: exit %d, %v\n%s\n%s", network, code, err, out, srv.logTail())
	}
	fields := strings.Fields(string(out))
	if len(fields) < 3 || fields[0] != "ok" || fields[2] != "ssl=true" {
		t.Fatalf("pgping printed %q", out)
	}
	seen, err := netip.ParseAddr(fields[1])
	if err != nil || !subnets[0].Contains(seen) {
		t.Errorf("the server saw the container as %q, not an address of %v", fields[1], subnets)
	}
	out, code, err = eng.RunOnce(ctx, engine.RunSpec{Image: image, Cmd: args})
	if err != nil || code == 0 || !strings.Contains(string(out), "pg_hba.conf") {
		t.Errorf("a container on the default bridge (not admitted): exit %d, %v, %q; want refused by pg_hba.conf", code, err, out)
	}

	if err := srv.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if c, err := connect(ctx, p); err == nil {
		c.Close(ctx)
		t.Fatal("the server still answers after Stop")
	}
	again, err := Start(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Stop(ctx)
	q := again.Prefill()
	if q.Port != p.Port || q.AdminPassword != p.AdminPassword || !bytes.Equal(q.CAPEM, p.CAPEM) {
		t.Errorf("second start: port %d, same password %v, same CA %v; want the first start's", q.Port, q.AdminPassword == p.AdminPassword, bytes.Equal(q.CAPEM, p.CAPEM))
	}
	conn, err = connect(ctx, q)
	if err != nil {
		t.Fatalf("login after the second start: %v", err)
	}
	defer conn.Close(ctx)
	var v string
	if err := conn.QueryRow(ctx, "SELECT v FROM kept").Scan(&v); err != nil || v != "across starts" {
		t.Errorf("data after the second start: %q, %v", v, err)
	}
}

// TestStartWithoutTLSReplacesALeftover starts without TLS, then starts
// again without Stop, as after a carto-setup that was killed: the second
// start takes the running server over rather than failing.
func TestStartWithoutTLSReplacesALeftover(t *testing.T) {
	t.Parallel()
	needPostgres(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	eng := needEngine(t, ctx)
	bridge, err := eng.DefaultBridge(ctx)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(stateDir(t), "demo-postgres")
	opts := Options{Dir: dir, ListenAddr: bridge.Gateway}
	if _, err := Start(ctx, opts); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { Remove(context.Background(), dir) })
	srv, err := Start(ctx, opts)
	if err != nil {
		t.Fatalf("start over a running server: %v", err)
	}
	p := srv.Prefill()
	if p.SSL || p.SSLMode != "disable" || p.CAPEM != nil {
		t.Errorf("prefill without TLS: %+v", redacted(p))
	}
	conn, err := connect(ctx, p)
	if err != nil {
		t.Fatalf("login: %v", err)
	}
	conn.Close(ctx)
	if err := Remove(ctx, dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Remove left %s: %v", dir, err)
	}
	if c, err := connect(ctx, p); err == nil {
		c.Close(ctx)
		t.Error("the server still answers after Remove")
	}
}

// TestStartReportsABlockedDirectory runs as root, where the server runs
// as postgres: a directory above the state directory that postgres may not
// enter is named in an *AccessError, and nothing is started.
func TestStartReportsABlockedDirectory(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("only root hands the server to another user")
	}
	needPostgres(t)
	blocked, err := os.MkdirTemp("", "demopg-blocked-") // 0700, owned by root
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(blocked) })
	state := filepath.Join(blocked, "state")
	if err := os.Mkdir(state, 0o700); err != nil {
		t.Fatal(err)
	}
	_, err = Start(context.Background(), Options{Dir: filepath.Join(state, "demo-postgres"), ListenAddr: netip.MustParseAddr("127.0.0.1")})
	var ae *AccessError
	if !errors.As(err, &ae) || ae.Dir != blocked || ae.User != "postgres" {
		t.Fatalf("Start = %v, want an AccessError naming %s", err, blocked)
	}
	if _, err := os.Stat(filepath.Join(state, "demo-postgres", dataDir)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a cluster directory was made although the server could not use it: %v", err)
	}
}

func TestRenderHBA(t *testing.T) {
	t.Parallel()
	host := []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("172.17.0.1"), netip.MustParseAddr("192.0.2.2")}
	got := renderHBA("172.17.0.1", host, Options{TLS: true, AllowSubnets: []netip.Prefix{
		netip.MustParsePrefix("172.18.0.0/16"), netip.MustParsePrefix("fd00::/64"), netip.MustParsePrefix("192.168.5.7/20")}})
	want := "local all all scram-sha-256\n" +
		"hostssl all all 172.17.0.1/32 scram-sha-256\n" +
		"hostssl all all 127.0.0.1/32 scram-sha-256\n" +
		"hostssl all all 192.0.2.2/32 scram-sha-256\n" +
		"hostssl all all 172.18.0.0/16 scram-sha-256\n" +
		"hostssl all all 192.168.0.0/20 scram-sha-256\n"
	if !strings.HasSuffix(got, want) || strings.Contains(got, "trust") || strings.Contains(got, "fd00") {
		t.Errorf("pg_hba.conf:\n%s\nwant it to end with:\n%s", got, want)
	}
}

func redacted(p Prefill) Prefill {
	p.AdminPassword = "(" + strconv.Itoa(len(p.AdminPassword)) + " characters)"
	return p
}
