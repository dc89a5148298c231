package e2e

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/miekg/dns"

	"github.com/carto-setup/carto-setup/internal/compose"
	"github.com/carto-setup/carto-setup/internal/demo/release"
	"github.com/carto-setup/carto-setup/internal/engine"
	"github.com/carto-setup/carto-setup/internal/fileaccess"
	"github.com/carto-setup/carto-setup/internal/pgtest"
	"github.com/carto-setup/carto-setup/internal/testenv"
)

const e2eDomain = "carto.e2e.test"

// startDNS answers A queries for e2eDomain with 127.0.0.1 and NXDOMAIN for
// everything else, on a loopback UDP port.
func startDNS(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		if len(q.Question) == 1 && strings.EqualFold(q.Question[0].Name, e2eDomain+".") {
			if q.Question[0].Qtype == dns.TypeA {
				m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: q.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.IPv4(127, 0, 0, 1)})
			}
		} else {
			m.Rcode = dns.RcodeNameError
		}
		w.WriteMsg(m)
	})}
	go srv.ActivateAndServe()
	t.Cleanup(func() { srv.Shutdown() })
	return pc.LocalAddr().String()
}

// installFixture is a stand-in release with its own version (so its image
// tag is not shared with other tests), a customer package whose router
// ports are free, a PostgreSQL the containers can reach, and a Compose
// project that is torn down at the end.
type installFixture struct {
	app      *App
	pg       *pgtest.Server
	pkgDir   string
	project  string
	release  string
	version  string
	resolver string
}

func newInstallFixture(t *testing.T) *installFixture {
	t.Helper()
	// The containers reach the database through the Docker bridge.
	return newInstallFixtureWith(t, pgtest.Options{ListenAddrs: []string{"172.17.0.1"}})
}

// newInstallFixtureWith is newInstallFixture with its PostgreSQL started
// with pgo.
func newInstallFixtureWith(t *testing.T, pgo pgtest.Options) *installFixture {
	t.Helper()
	NeedDocker(t)
	bin := StaticBinary(t)
	f := &installFixture{release: t.TempDir(), pkgDir: t.TempDir(), project: fmt.Sprintf("e2e%06d", rand.IntN(1e6)), version: fmt.Sprintf("2026.8.11-e2e%d", rand.IntN(1e6))}
	if err := release.Write(f.release, f.version); err != nil {
		t.Fatal(err)
	}
	f.pg = pgtest.Start(t, pgo)
	env := release.SampleCustomerEnv("carto3-onprem.lan") // the wizard sets the real domain
	env = append(env, fmt.Sprintf("ROUTER_HTTP_PORT=%d\nROUTER_HTTPS_PORT=%d\nROUTER_METRICS_PORT=%d\n", testenv.FreePort(t), testenv.FreePort(t), testenv.FreePort(t))...)
	key, err := release.SampleKeyJSON()
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(f.pkgDir, "customer.env"), env, 0o600)
	os.WriteFile(filepath.Join(f.pkgDir, "key.json"), key, 0o600)
	f.resolver = startDNS(t)
	t.Cleanup(func() { f.teardown(t) })
	f.app = StartApp(t, Options{ReleaseDir: f.release, Args: []string{
		"--standin-binary", bin, "--project", f.project, "--resolver", f.resolver,
		"--http-addr", "127.0.0.1:0", "--expect-timeout", "4m",
	}})
	return f
}

func (f *installFixture) teardown(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := os.Stat(filepath.Join(f.release, ".env")); err != nil {
		return // nothing was installed
	}
	if tool, err := compose.Detect(ctx, execLookPath, compose.Exec); err == nil {
		if err := compose.Down(ctx, tool, f.release, f.project, io.Discard); err != nil {
			t.Logf("compose down: %v", err)
		}
	}
	if eng, err := engine.New(ctx); err == nil {
		release.RemoveImages(ctx, eng, f.version)
		eng.Close()
	}
}

// walkToReview signs in and fills every step up to the review, with the
// given database admin password and no Advanced settings.
func (f *installFixture) walkToReview(t *testing.T, ctx context.Context, adminPassword string) {
	f.walkToAdvanced(t, ctx, adminPassword)
	Submit(t, ctx, `button[value="next"]`)
	if !strings.HasSuffix(Location(t, ctx), "/steps/review") {
		t.Fatalf("expected the review, at %s: %s", Location(t, ctx), pageText(ctx))
	}
}

// walkToAdvanced signs in and fills every step up to the Advanced
// settings, with the given database admin password.
func (f *installFixture) walkToAdvanced(t *testing.T, ctx context.Context, adminPassword string) {
	a := f.app
	Navigate(t, ctx, a.SignInURL)
	PassPreflight(t, ctx, a)

	// Package: the two files.
	Upload(t, ctx, "customer_env", filepath.Join(f.pkgDir, "customer.env"))
	Upload(t, ctx, "key_json", filepath.Join(f.pkgDir, "key.json"))
	Submit(t, ctx, `button[value="upload"]`)
	if got := Text(t, ctx, "#sum-tenant"); got != release.SampleTenantID {
		t.Fatalf("package summary tenant %q; page: %s", got, pageText(ctx))
	}
	Submit(t, ctx, `button[value="next"]`)

	// Domain: resolves to 127.0.0.1 through the test's DNS server. The
	// reachability checks depend on the machine; any failure gets a reason.
	if !strings.HasSuffix(Location(t, ctx), "/steps/domain") {
		t.Fatalf("expected the domain step, at %s: %s", Location(t, ctx), pageText(ctx))
	}
	if v := Get(t, ctx, "suggested domain", chromedp.Value(chromedp.CSS("#f-domain"))); v != "carto3-onprem.lan" {
		t.Fatalf("the package's domain is not suggested: %q", v)
	}
	Fill(t, ctx, "domain", e2eDomain)
	Submit(t, ctx, `button[value="check"]`)
	if Get(t, ctx, "resolves", chromedp.Evaluate[int](`document.querySelectorAll('tr[data-check="domain.resolves"][data-status="pass"]').length`)) != 1 {
		t.Fatalf("the domain did not resolve through the test DNS server: %s", pageText(ctx))
	}
	FillOverrides(t, ctx, "e2e: no public DNS here")
	Submit(t, ctx, `button[value="next"]`)

	// Database: the real PostgreSQL.
	if !strings.HasSuffix(Location(t, ctx), "/steps/database") {
		t.Fatalf("expected the database step, at %s: %s", Location(t, ctx), pageText(ctx))
	}
	Choose(t, ctx, "db_mode", "external")
	Fill(t, ctx, "host", "172.17.0.1")
	Fill(t, ctx, "port", fmt.Sprint(f.pg.Port))
	Fill(t, ctx, "admin_user", f.pg.User)
	Fill(t, ctx, "admin_password", adminPassword)
	Fill(t, ctx, "workspace_password", "e2e-workspace-Secret-1")
	SetChecked(t, ctx, "ssl", false)
	Choose(t, ctx, "cache_mode", "embedded")
	Submit(t, ctx, `button[value="test"]`)
	FillOverrides(t, ctx, "e2e: testing a failure on purpose")
	Submit(t, ctx, `button[value="next"]`)

	// TLS: self-signed.
	if !strings.HasSuffix(Location(t, ctx), "/steps/tls") {
		t.Fatalf("expected the TLS step, at %s: %s", Location(t, ctx), pageText(ctx))
	}
	Choose(t, ctx, "tls_mode", "self-signed")
	Submit(t, ctx, `button[value="next"]`)

	// Buckets: CARTO-managed.
	if !strings.HasSuffix(Location(t, ctx), "/steps/buckets") {
		t.Fatalf("expected the buckets step, at %s: %s", Location(t, ctx), pageText(ctx))
	}
	Choose(t, ctx, "buckets_mode", "carto-managed")
	Submit(t, ctx, `button[value="next"]`)
	if !strings.HasSuffix(Location(t, ctx), "/steps/advanced") {
		t.Fatalf("expected the Advanced settings, at %s: %s", Location(t, ctx), pageText(ctx))
	}
}

// watchInstall waits for the install to finish and returns its status and
// the services whose live log lines arrived while it ran.
func watchInstall(t *testing.T, ctx context.Context) (string, map[string]bool) {
	t.Helper()
	jobURL := Location(t, ctx)
	seen := map[string]bool{}
	deadline := time.Now().Add(6 * time.Minute)
	for time.Now().Before(deadline) {
		tctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		state, err := chromedp.Run(tctx, chromedp.Evaluate[map[string]any](`(function(){
			var j = document.getElementById("job");
			var svcs = Array.from(document.querySelectorAll("#log .line")).map(function(l){ return l.dataset.service });
			return {status: j ? j.dataset.status : "", services: svcs};
		})()`))
		cancel()
		if loc := Location(t, ctx); strings.HasPrefix(loc, "chrome-error:") {
			// Compose changing the host's interfaces aborted a load (the
			// page reloads itself when the install ends); open it again.
			Navigate(t, ctx, jobURL)
			continue
		}
		if err == nil {
			status, _ := state["status"].(string)
			if status == "running" {
				if list, ok := state["services"].([]any); ok {
					for _, s := range list {
						if name, _ := s.(string); name != "" && name != "carto-setup" {
							seen[name] = true
						}
					}
				}
			} else if status != "" {
				return status, seen
			}
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatalf("the install did not finish in time; page: %s", pageText(ctx))
	return "", nil
}

// TestInstallStandinRelease walks every step in Chromium against the
// stand-in release and a real PostgreSQL, installs, and watches every
// service reach its expected state with live logs from the containers.
func TestInstallStandinRelease(t *testing.T) {
	f := newInstallFixture(t)
	ctx := Browser(t, true)
	f.walkToReview(t, ctx, f.pg.Password)

	if !strings.Contains(Text(t, ctx, "#diff"), "SELFHOSTED_DOMAIN="+e2eDomain) {
		t.Fatalf("the review does not show the domain change: %s", Text(t, ctx, "#diff"))
	}
	if strings.Contains(Text(t, ctx, "main"), f.pg.Password) {
		t.Fatal("the review shows the database password")
	}
	Submit(t, ctx, `button[value="install"]`)
	status, seen := watchInstall(t, ctx)
	if status != "succeeded" {
		t.Fatalf("install %s: %s", status, pageText(ctx))
	}
	if len(seen) < 3 {
		t.Fatalf("live log lines arrived from %d containers while installing (%v), want at least 3", len(seen), seen)
	}
	rows := Get(t, ctx, "board", chromedp.Evaluate[map[string]string](`Object.fromEntries(Array.from(document.querySelectorAll("#board li[data-service]")).map(function(r){ return [r.dataset.service, r.dataset.status + " " + r.querySelector(".state").textContent.replace(/ \(.*$/, "")] }))`))
	if rows["workspace-migrations"] != "ok exited" {
		t.Fatalf("workspace-migrations on the board: %q", rows["workspace-migrations"])
	}
	for svc, st := range rows {
		if svc != "workspace-migrations" && st != "ok running" {
			t.Errorf("%s on the board: %q, want ok running", svc, st)
		}
	}
	if got, want := Text(t, ctx, "#board-ready strong"), fmt.Sprintf("%d of %d ready", len(rows), len(rows)); got != want {
		t.Errorf("ready count %q, want %q", got, want)
	}
	// The migrations really created the workspace role and database.
	var n int
	if err := f.pg.Conn(t, "postgres").QueryRow(context.Background(), "SELECT count(*) FROM pg_database WHERE datname = 'workspace'").Scan(&n); err != nil || n != 1 {
		t.Fatalf("workspace database: %d, %v", n, err)
	}
	// Owner-only, but for an ACL entry per container user that reads the
	// file: certs/key.json is read by the services (uid 1000 in the
	// stand-in), customer.env and .env by none.
	for name, readers := range map[string][]int{"customer.env": nil, ".env": nil, "certs/key.json": {1000}} {
		path := filepath.Join(f.release, name)
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		got, err := fileaccess.Readers(path)
		if err != nil {
			t.Fatal(err)
		}
		want := fs.FileMode(0o600)
		if len(readers) > 0 {
			want = 0o640 // the ACL mask shows in the group bits
		}
		if fi.Mode().Perm() != want || !slices.Equal(got, readers) {
			t.Errorf("%s has mode %v and ACL readers %v, want %v and %v", name, fi.Mode().Perm(), got, want, readers)
		}
	}
}

// TestInstallContainersRefusedByDatabase installs against a PostgreSQL
// whose pg_hba.conf admits this host but not the Compose network: every
// check passes from the VM, the migrations fail in their container, and
// the board names workspace-migrations with its last log lines. (A wrong
// password can no longer be continued past: that install could not work.)
func TestInstallContainersRefusedByDatabase(t *testing.T) {
	f := newInstallFixtureWith(t, pgtest.Options{ListenAddrs: []string{"172.17.0.1"}, HBA: []string{"host all all samehost scram-sha-256"}})
	ctx := Browser(t, true)
	f.walkToReview(t, ctx, f.pg.Password)
	Submit(t, ctx, `button[value="install"]`)
	status, _ := watchInstall(t, ctx)
	if status != "failed" {
		t.Fatalf("install %s with the containers refused by the database; page: %s", status, pageText(ctx))
	}
	failing := Get(t, ctx, "failing", chromedp.Evaluate[string](`(function(){ var f = document.querySelector('.failing[data-service="workspace-migrations"]'); return f ? f.innerText : "" })()`))
	if failing == "" {
		t.Fatalf("workspace-migrations is not named as failing; page: %s", pageText(ctx))
	}
	if !strings.Contains(failing, "pg_hba") {
		t.Errorf("the failing block has no log line about pg_hba.conf: %q", failing)
	}
	if chip := Get(t, ctx, "chip", chromedp.Evaluate[string](`(function(){ var c = document.querySelector('#board li[data-service="workspace-migrations"]'); return c ? c.dataset.status : "" })()`)); chip != "failed" {
		t.Errorf("the workspace-migrations chip is %q, want failed", chip)
	}
	if strings.Contains(pageText(ctx), f.pg.Password) {
		t.Error("the password appears in the page")
	}
}
