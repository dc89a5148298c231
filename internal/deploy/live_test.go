package deploy

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/carto-setup/carto-setup/internal/compose"
	"github.com/carto-setup/carto-setup/internal/demo/release"
	"github.com/carto-setup/carto-setup/internal/engine"
	"github.com/carto-setup/carto-setup/internal/logstream"
	"github.com/carto-setup/carto-setup/internal/pgtest"
	"github.com/carto-setup/carto-setup/internal/selfsigned"
	"github.com/carto-setup/carto-setup/internal/testenv"
	"github.com/carto-setup/carto-setup/internal/wizard"
)

// bridge is the Docker bridge address, where containers reach the host.
const bridge = "172.17.0.1"

// TestRunLive installs the stand-in release on the real Docker Engine with
// the host's Docker Compose: once against a database port where nothing
// listens, which must fail naming workspace-migrations, and once against a
// real PostgreSQL over verified TLS, where every service must reach its
// expected state.
func TestRunLive(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the Docker test")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
	defer cancel()
	eng, err := engine.New(ctx)
	if err != nil {
		testenv.Missing(t, "Docker Engine", "install Docker Engine 20.10+ and start it: "+err.Error())
	}
	t.Cleanup(func() { eng.Close() })
	if _, err := (SystemCompose{}).Detect(ctx); err != nil {
		testenv.Missing(t, "Docker Compose", "apt-get install docker-compose: "+err.Error())
	}
	goBin := testenv.LookPath(t, "go", "install Go 1.26")

	id := randomHex(t)
	version := "2026.8.11-deploytest." + id
	bin := filepath.Join(t.TempDir(), "carto-setup")
	build := exec.CommandContext(ctx, goBin, "build", "-trimpath", "-o", bin,
		"github.com/carto-setup/carto-setup/internal/demo/standin/testdata/standinmain")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		if err := eng.RemoveImage(context.Background(), release.ImageTag(version)); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	deps := Deps{Compose: SystemCompose{}, Docker: eng}
	// The stand-in's images, built the way --demo builds them, at the
	// hook where a real release's images are made sure of.
	standinImages := func(ctx context.Context, plan Plan, progress io.Writer) error {
		if ok, err := eng.ImageExists(ctx, release.ImageTag(plan.Version())); err != nil || ok {
			return err
		}
		return release.BuildImages(ctx, eng, bin, plan.Version(), progress)
	}

	t.Run("migrations cannot reach the database", func(t *testing.T) {
		st := liveState(t)
		st.Database = wizard.DatabaseInput{Mode: wizard.ModeExternal, Host: bridge, Port: testenv.FreePortAll(t),
			AdminUser: "postgres", AdminPassword: "Live-Admin-PW-" + id, WorkspaceUser: "workspace_admin",
			WorkspacePassword: "Live-Workspace-PW-" + id}
		res := liveRun(ctx, t, deps, standinImages, st, version, "deployfail"+id)
		var de *Error
		if !errors.As(res.err, &de) {
			t.Fatalf("Run: %v, want a *deploy.Error\n%s", res.err, res.out)
		}
		if de.Step != "wait" || !strings.Contains(de.Error(), MigrationsService) || !strings.Contains(de.Error(), "database credentials") {
			t.Errorf("Run: %v; want the wait step to name %s with the database hint\n%s", de, MigrationsService, res.out)
		}
		var mig *Failure
		for i := range de.Failures {
			if de.Failures[i].Service == MigrationsService {
				mig = &de.Failures[i]
			}
		}
		if mig == nil || len(mig.Lines) == 0 {
			t.Errorf("no log lines for %s in %+v", MigrationsService, de.Failures)
		}
		for _, s := range st.Secrets() {
			if strings.Contains(res.out, s) || strings.Contains(de.Error(), s) || strings.Contains(res.hubText, s) {
				t.Errorf("a secret shows in the job log, the error or the hub")
			}
		}
		t.Logf("error: %v", de)
	})

	t.Run("every service reaches its expected state", func(t *testing.T) {
		pg := pgtest.Start(t, pgtest.Options{TLS: true, ListenAddrs: []string{bridge}, CertHosts: []string{bridge}})
		st := liveState(t)
		st.Database = wizard.DatabaseInput{Mode: wizard.ModeExternal, Host: bridge, Port: pg.Port,
			AdminUser: pg.User, AdminPassword: pg.Password, AdminDatabase: "postgres",
			WorkspaceUser: "workspace_admin", WorkspacePassword: "Live-Workspace-PW-" + id, WorkspaceDatabase: "workspace",
			SSL: true, SSLMode: "verify-full", CAPEM: string(pg.CAPEM)}
		res := liveRun(ctx, t, deps, standinImages, st, version, "deployok"+id)
		if res.err != nil {
			t.Fatalf("Run: %v\n%s", res.err, res.out)
		}
		var states []string
		for _, s := range res.board.Snapshot() {
			states = append(states, fmt.Sprintf("%s=%s/%d", s.Service, s.State, s.ExitCode))
		}
		t.Logf("board: %s", strings.Join(states, " "))
		if !strings.Contains(res.hubText, "workspace") {
			t.Errorf("the hub holds no log line of the stack")
		}
	})
}

// liveState is a wizard state for the stand-in release: its sample package
// with the host ports moved (the stand-in's compose file reads them from
// .env) and fewer migration retries, and an uploaded certificate.
func liveState(t *testing.T) wizard.State {
	t.Helper()
	domain := "carto.deploy.test"
	key, err := release.SampleKeyJSON()
	if err != nil {
		t.Fatal(err)
	}
	cert, certKey, err := selfsigned.Generate(selfsigned.Request{CommonName: domain, DNSNames: []string{domain},
		NotBefore: time.Now().Add(-time.Minute), Validity: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	env := string(release.SampleCustomerEnv(domain)) + fmt.Sprintf(
		"\n# Test settings of the stand-in release\nROUTER_HTTP_PORT=%d\nROUTER_HTTPS_PORT=%d\nROUTER_METRICS_PORT=%d\nWORKSPACE_MIGRATIONS_MAX_RETRIES=2\nSTANDIN_LOG_INTERVAL=1s\n",
		testenv.FreePortAll(t), testenv.FreePortAll(t), testenv.FreePortAll(t))
	var st wizard.State
	st.Package = wizard.PackageInput{CustomerEnv: env, KeyJSON: string(key)}
	st.Domain.Domain = domain
	st.Cache.Mode = wizard.ModeEmbedded
	st.TLS = wizard.TLSInput{Mode: wizard.TLSUpload, CertPEM: string(cert), KeyPEM: string(certKey)}
	st.Buckets.Mode = wizard.BucketsCartoManaged
	return st
}

type liveResult struct {
	err     error
	out     string
	hubText string
	board   *Board
}

// liveRun plans and runs an install of the stand-in release under project,
// and takes the stack down with its volumes when the test ends.
func liveRun(ctx context.Context, t *testing.T, deps Deps, standinImages func(context.Context, Plan, io.Writer) error, st wizard.State, version, project string) liveResult {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "carto-selfhosted")
	if err := release.Write(dir, version); err != nil {
		t.Fatal(err)
	}
	plan, err := NewPlan(st, dir)
	if err != nil {
		t.Fatalf("NewPlan: %v", err)
	}
	tool, err := deps.Compose.Detect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		var out bytes.Buffer
		if err := compose.Down(ctx, tool, dir, project, &out); err != nil {
			t.Errorf("compose down: %v\n%s", err, out.String())
		}
		// compose.Down keeps named volumes; remove them too.
		argv := tool.Args(project, dir, "down", "--volumes", "--remove-orphans")
		if b, err := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput(); err != nil {
			t.Errorf("compose down --volumes: %v\n%s", err, b)
		}
	})
	hub := logstream.NewHub(logstream.HubConfig{})
	board := NewBoard(BoardConfig{Settle: 3 * time.Second})
	var out testenv.Buffer
	start := time.Now()
	err = Run(ctx, deps, RunConfig{Plan: plan, Project: project, Expect: 3 * time.Minute, EnsureImages: standinImages,
		Hub: hub, Board: board, Poll: 500 * time.Millisecond}, &out)
	t.Logf("Run returned after %s", time.Since(start).Round(time.Millisecond))
	var hubText strings.Builder
	for _, l := range hub.Poll(nil, 100000).Lines {
		hubText.WriteString(l.Container + " " + l.Text + "\n")
	}
	return liveResult{err: err, out: out.String(), hubText: hubText.String(), board: board}
}

func randomHex(t *testing.T) string {
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}
