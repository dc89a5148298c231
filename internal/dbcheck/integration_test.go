package dbcheck

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/carto-setup/carto-setup/internal/check"
	"github.com/carto-setup/carto-setup/internal/engine"
	"github.com/carto-setup/carto-setup/internal/pgtest"
	"github.com/carto-setup/carto-setup/internal/testenv"
)

// want describes the result a live case must end with, or, when id names
// an earlier result, must contain.
type want struct {
	id      string
	status  check.Status
	field   string
	message string // substring
}

func runCase(t *testing.T, cfg Config, wants []want) []check.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	results, err := Check(ctx, cfg)
	for _, w := range wants {
		r, ok := find(results, w.id)
		if !ok {
			t.Fatalf("no result %s in %s (err %v)", w.id, dump(results), err)
		}
		if r.Status != w.status || (w.field != "" && r.Field != w.field) || !strings.Contains(r.Message, w.message) {
			t.Errorf("%s = %s field=%q %q; want %s field=%q containing %q (err %v)",
				w.id, r.Status, r.Field, r.Message, w.status, w.field, w.message, err)
		}
		if r.Step != Step {
			t.Errorf("%s: step %q", w.id, r.Step)
		}
	}
	for _, r := range results {
		if strings.Contains(r.Message, cfg.AdminPassword) || strings.Contains(r.Hint, cfg.AdminPassword) {
			t.Errorf("%s leaks the password", r.ID)
		}
		if strings.Contains(r.Message, "SQLSTATE") || strings.Contains(r.Message, "failed to connect") {
			t.Errorf("%s shows raw driver text: %q", r.ID, r.Message)
		}
	}
	return results
}

func find(results []check.Result, id string) (check.Result, bool) {
	for _, r := range results {
		if r.ID == id {
			return r, true
		}
	}
	return check.Result{}, false
}

func dump(results []check.Result) string {
	var b strings.Builder
	for _, r := range results {
		b.WriteString("\n  " + r.ID + " " + string(r.Status) + " " + r.Message)
	}
	return b.String()
}

func adminConfig(s *pgtest.Server) Config {
	return Config{Host: s.Host, Port: s.Port, AdminUser: s.User, AdminPassword: s.Password}
}

func TestRunPlainServer(t *testing.T) {
	s := pgtest.Start(t, pgtest.Options{})
	s.Exec(t, "CREATE ROLE limited LOGIN PASSWORD 'limited-pw' CREATEDB")
	s.Exec(t, "CREATE ROLE taken LOGIN PASSWORD 'x'")
	s.Exec(t, "CREATE DATABASE takendb")

	t.Run("all good", func(t *testing.T) {
		rs := runCase(t, adminConfig(s), []want{
			{IDResolve, check.Pass, FieldHost, ""},
			{IDConnect, check.Pass, FieldPort, ""},
			{IDTLS, check.Pass, FieldSSLMode, "TLS is off"},
			{IDAuth, check.Pass, FieldAdminPassword, ""},
			{IDAdminDatabase, check.Pass, FieldAdminDatabase, ""},
			{IDVersion, check.Pass, "", "PostgreSQL 1"},
			{IDPrivileges, check.Pass, FieldAdminUser, "superuser"},
			{IDWorkspaceRole, check.Pass, FieldWorkspaceUser, "does not exist yet"},
			{IDWorkspaceDatabase, check.Pass, FieldWorkspaceDatabase, "does not exist yet"},
			{IDEncoding, check.Pass, FieldWorkspaceDatabase, ""},
			{IDPgcrypto, check.Pass, "", ""},
		})
		if got := check.Worst(rs); got != check.Pass {
			t.Errorf("worst = %s:%s", got, dump(rs))
		}
	})
	t.Run("existing workspace role and database", func(t *testing.T) {
		cfg := adminConfig(s)
		cfg.WorkspaceUser, cfg.WorkspaceDatabase = "taken", "takendb"
		runCase(t, cfg, []want{
			{IDWorkspaceRole, check.Warn, FieldWorkspaceUser, "already exists"},
			{IDWorkspaceDatabase, check.Warn, FieldWorkspaceDatabase, "already exists"},
			{IDEncoding, check.Pass, FieldWorkspaceDatabase, "UTF8"},
		})
	})
	t.Run("azure style workspace user", func(t *testing.T) {
		cfg := adminConfig(s)
		cfg.WorkspaceUser = "taken@myserver"
		runCase(t, cfg, []want{{IDWorkspaceRole, check.Warn, FieldWorkspaceUser, `"taken"`}})
	})
	t.Run("admin without createrole", func(t *testing.T) {
		cfg := adminConfig(s)
		cfg.AdminUser, cfg.AdminPassword = "limited", "limited-pw"
		rs := runCase(t, cfg, []want{
			{IDAuth, check.Pass, "", ""},
			{IDPrivileges, check.Fail, FieldAdminUser, "lacks CREATEROLE"},
		})
		if r, _ := find(rs, IDPrivileges); r.Measured != "CREATEDB" {
			t.Errorf("measured %q", r.Measured)
		}
	})
	t.Run("wrong password", func(t *testing.T) {
		cfg := adminConfig(s)
		cfg.AdminPassword = "not-the-password"
		runCase(t, cfg, []want{
			{IDConnect, check.Pass, "", ""},
			{IDAuth, check.Fail, FieldAdminPassword, "rejected the password"},
		})
	})
	t.Run("missing admin database", func(t *testing.T) {
		cfg := adminConfig(s)
		cfg.AdminDatabase = "nope"
		runCase(t, cfg, []want{
			{IDAuth, check.Pass, "", ""},
			{IDAdminDatabase, check.Fail, FieldAdminDatabase, `"nope" does not exist`},
		})
	})
	t.Run("tls requested, server has none", func(t *testing.T) {
		cfg := adminConfig(s)
		cfg.SSL, cfg.SSLMode = true, SSLRequire
		runCase(t, cfg, []want{{IDTLS, check.Fail, FieldSSLMode, "does not offer TLS"}})
	})
}

// TestRunNoHBAEntry refuses the test's address in pg_hba.conf: the hint
// names the address the server saw (the loopback address here, not the
// VMAddress the old hint named) and the containers' subnet.
func TestRunNoHBAEntry(t *testing.T) {
	s := pgtest.Start(t, pgtest.Options{HBA: []string{"host all all 192.0.2.1/32 scram-sha-256"}})
	cfg := adminConfig(s)
	cfg.VMAddress = "198.51.100.9"
	cfg.Containers = ContainerNetwork{Subnets: []netip.Prefix{netip.MustParsePrefix("172.18.0.0/16")}, Exist: true, Network: "carto_default"}
	rs := runCase(t, cfg, []want{{IDAuth, check.Fail, FieldHost, "no pg_hba.conf rule"}})
	r, _ := find(rs, IDAuth)
	for _, w := range []string{`"host all all 127.0.0.1/32 scram-sha-256"`, `"host all all 172.18.0.0/16 scram-sha-256"`} {
		if !strings.Contains(r.Hint, w) {
			t.Errorf("hint %q lacks %s", r.Hint, w)
		}
	}
	if r.Measured != "the server saw 127.0.0.1" || strings.Contains(r.Hint, "198.51.100.9") || r.Fixed {
		t.Errorf("measured %q, hint %q, fixed %v: want what the server saw, overridable", r.Measured, r.Hint, r.Fixed)
	}
}

// TestRunNoHBAEntryBehindNAT connects to a server on the Docker bridge
// gateway. On a host whose connections to the gateway are rewritten (as
// Docker's MASQUERADE rule does on the project machines, where the server
// sees eth0's address), the address the server sees is not the local
// address of the connection: the hint must name the former, which a
// permitted role reads from inet_client_addr() first.
func TestRunNoHBAEntryBehindNAT(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	eng, err := engine.New(ctx)
	if err != nil {
		testenv.Missing(t, "Docker Engine", "install Docker Engine 20.10+ and start it: "+err.Error())
	}
	defer eng.Close()
	bridge, err := eng.DefaultBridge(ctx)
	if err != nil {
		t.Fatal(err)
	}
	gw := bridge.Gateway.String()
	s := pgtest.Start(t, pgtest.Options{ListenAddrs: []string{gw}, HBA: []string{"host all seer 0.0.0.0/0 scram-sha-256"}})
	s.Exec(t, "CREATE ROLE seer LOGIN PASSWORD 'seer-pw'")
	conn, err := pgx.Connect(ctx, fmt.Sprintf("host=%s port=%d user=seer password=seer-pw dbname=postgres sslmode=disable", gw, s.Port))
	if err != nil {
		t.Fatalf("the permitted role cannot log in: %v\n%s", err, s.Log())
	}
	var seen, local string
	err = conn.QueryRow(ctx, "SELECT host(inet_client_addr())").Scan(&seen)
	local = conn.PgConn().Conn().LocalAddr().(*net.TCPAddr).IP.String()
	conn.Close(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("connecting to %s: local address %s, the server saw %s", gw, local, seen)

	cfg := adminConfig(s)
	cfg.Host = gw
	rs := runCase(t, cfg, []want{{IDAuth, check.Fail, FieldHost, "no pg_hba.conf rule"}})
	r, _ := find(rs, IDAuth)
	if want := fmt.Sprintf(`"host all all %s/32 scram-sha-256"`, seen); !strings.Contains(r.Hint, want) {
		t.Errorf("hint %q does not give the rule for what the server saw: %s", r.Hint, want)
	}
	if seen != local && strings.Contains(r.Hint, local+"/32") {
		t.Errorf("hint %q names the local address %s, which the server never saw", r.Hint, local)
	}
}

func TestRunTLS(t *testing.T) {
	// The certificate names only localhost, so 127.0.0.1 is a name mismatch.
	s := pgtest.Start(t, pgtest.Options{TLS: true, CertHosts: []string{"localhost"}})
	other := pgtest.NewCA(t)
	tests := []struct {
		name  string
		host  string
		mode  string
		ca    []byte
		wants []want
	}{
		{"verify-full", "localhost", SSLVerifyFull, s.CAPEM, []want{
			{IDTLS, check.Pass, FieldSSLMode, "host name verified against the uploaded CA"},
			{IDAuth, check.Pass, "", ""},
		}},
		{"require without ca", "127.0.0.1", SSLRequire, nil, []want{{IDTLS, check.Pass, FieldSSLMode, "not verified"}}},
		{"require with ca checks the chain", "127.0.0.1", SSLRequire, other.PEM, []want{{IDTLS, check.Fail, FieldCA, "not signed by the uploaded CA"}}},
		{"wrong ca", "localhost", SSLVerifyFull, other.PEM, []want{
			{IDConnect, check.Pass, "", ""},
			{IDTLS, check.Fail, FieldCA, "not signed by the uploaded CA"},
		}},
		{"system roots", "localhost", SSLVerifyCA, nil, []want{{IDTLS, check.Fail, FieldCA, "not signed by a CA this VM trusts"}}},
		{"name mismatch", "127.0.0.1", SSLVerifyFull, s.CAPEM, []want{{IDTLS, check.Fail, FieldHost, `not valid for "127.0.0.1"`}}},
		{"verify-ca ignores the name", "127.0.0.1", SSLVerifyCA, s.CAPEM, []want{{IDTLS, check.Pass, FieldSSLMode, "host name not checked"}}},
		{"bad ca upload", "localhost", SSLVerifyFull, []byte("junk"), []want{{IDConfig, check.Fail, FieldCA, "not a PEM"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := adminConfig(s)
			cfg.Host, cfg.SSL, cfg.SSLMode, cfg.CAPEM = tt.host, true, tt.mode, tt.ca
			runCase(t, cfg, tt.wants)
		})
	}
}

func TestRunExpiredServerCert(t *testing.T) {
	s := pgtest.Start(t, pgtest.Options{TLS: true, CertNotAfter: time.Now().Add(-time.Hour)})
	cfg := adminConfig(s)
	cfg.SSL, cfg.SSLMode, cfg.CAPEM = true, SSLVerifyFull, s.CAPEM
	runCase(t, cfg, []want{{IDTLS, check.Fail, FieldSSLMode, "server certificate expired on"}})
}

func TestRunClientCertRequired(t *testing.T) {
	s := pgtest.Start(t, pgtest.Options{ClientCert: true})
	cfg := adminConfig(s)
	cfg.Host, cfg.SSL, cfg.SSLMode, cfg.CAPEM = "localhost", true, SSLVerifyFull, s.CAPEM
	runCase(t, cfg, []want{{IDTLS, check.Fail, FieldSSLMode, "client certificate (mutual TLS)"}})
}

func TestRunUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	tests := []struct {
		name string
		host string
		want want
	}{
		{"closed port", "127.0.0.1", want{IDConnect, check.Fail, FieldPort, "refused the connection"}},
		{"name does not resolve", "nonexistent.invalid", want{IDResolve, check.Fail, FieldHost, "does not resolve"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Config{Host: tt.host, Port: port, AdminUser: "postgres", AdminPassword: "pw"}
			runCase(t, cfg, []want{tt.want})
		})
	}
}

// TestRunTLSTimeout uses a listener that accepts and never answers, which is
// what a TLS-terminating proxy in the wrong mode or a half-open firewall
// looks like.
func TestRunTLSTimeout(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the 5-second connect timeout")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	cfg := Config{Host: "127.0.0.1", Port: l.Addr().(*net.TCPAddr).Port, AdminUser: "postgres", AdminPassword: "pw", SSL: true}
	runCase(t, cfg, []want{
		{IDConnect, check.Pass, "", ""},
		{IDTLS, check.Error, FieldSSLMode, "did not complete the TLS handshake"},
	})
}
