package deploy

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/carto-setup/carto-setup/internal/demo/release"
	"github.com/carto-setup/carto-setup/internal/engine"
	"github.com/carto-setup/carto-setup/internal/fileaccess"
	"github.com/carto-setup/carto-setup/internal/logstream"
	"github.com/carto-setup/carto-setup/internal/pgtest"
	"github.com/carto-setup/carto-setup/internal/selfsigned"
	"github.com/carto-setup/carto-setup/internal/testenv"
	"github.com/carto-setup/carto-setup/internal/wizard"
	"github.com/google/go-cmp/cmp"
	"github.com/moby/moby/client"
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
		if err := release.RemoveImages(context.Background(), eng, version); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	deps := Deps{Compose: SystemCompose{}, Docker: eng}
	// The stand-in's images, built the way --demo builds them, at the
	// hook where a real release's images are made sure of.
	standinImages := func(ctx context.Context, plan Plan, progress io.Writer) error {
		_, err := release.EnsureImages(ctx, eng, bin, plan.Version(), progress)
		return err
	}

	t.Run("migrations cannot reach the database", func(t *testing.T) {
		st := liveState(t)
		st.Database = wizard.DatabaseInput{Mode: wizard.ModeExternal, Host: bridge, Port: testenv.FreePortAll(t),
			AdminUser: "postgres", AdminPassword: "Live-Admin-PW-" + id, WorkspaceUser: "workspace_admin",
			WorkspacePassword: "Live-Workspace-PW-" + id}
		// An earlier install's volume of the same project, which the
		// clean-up of this failed install must leave.
		project := "deployfail" + id
		res0 := newTestResources(t)
		keep := project + "_earlier-data"
		res0.createVolume(ctx, t, keep, project)
		time.Sleep(1100 * time.Millisecond) // the daemon dates volumes to the second
		since := time.Now()
		res := liveRun(ctx, t, deps, standinImages, st, version, project)
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

		tool, _ := deps.Compose.Detect(ctx)
		c, err := RemoveFailedInstall(ctx, SystemCompose{}, res0, tool, res.dir, project, since, io.Discard)
		if err != nil {
			t.Fatalf("RemoveFailedInstall: %v", err)
		}
		t.Logf("removed %v; left %v", c.Removed, c.Left)
		vols, _ := res0.ProjectVolumes(ctx, project)
		nets, _ := res0.ProjectNetworks(ctx, project)
		var names []string
		for _, r := range append(vols, nets...) {
			names = append(names, r.Name)
		}
		if !slices.Equal(names, []string{keep}) {
			t.Errorf("left behind: %v, want only the earlier volume %s", names, keep)
		}
		if !slices.Contains(c.Removed, "volume "+project+"_workspace-pgdata") || !slices.ContainsFunc(c.Left, func(s string) bool { return strings.Contains(s, keep) }) {
			t.Errorf("the clean-up report does not say what it removed and left: %+v", c)
		}
		if list, _ := eng.ProjectContainers(ctx, project); len(list) != 0 {
			t.Errorf("containers left: %v", list)
		}
	})

	t.Run("realistic package: hand edits kept, a new certificate reaches the router, the same answers restart nothing", func(t *testing.T) {
		pg := pgtest.Start(t, pgtest.Options{TLS: true, ListenAddrs: []string{bridge}, CertHosts: []string{bridge}})
		st, httpsPort := realisticLiveState(t)
		st.Database = wizard.DatabaseInput{Mode: wizard.ModeExternal, Host: bridge, Port: pg.Port,
			AdminUser: pg.User, AdminPassword: pg.Password, AdminDatabase: "postgres",
			WorkspaceUser: "workspace_admin", WorkspacePassword: "Live-Workspace-PW-" + id, WorkspaceDatabase: "workspace",
			SSL: true, SSLMode: "verify-full", CAPEM: string(pg.CAPEM)}
		project := "deployreal" + id
		dir := filepath.Join(t.TempDir(), "carto-selfhosted")
		if err := release.Write(dir, version); err != nil {
			t.Fatal(err)
		}
		stateDir := t.TempDir()
		composeCleanup(ctx, t, deps, dir, project)
		plan := func(st wizard.State) Plan {
			t.Helper()
			p, err := NewPlanWith(st, dir, PlanOptions{StateDir: stateDir})
			if err != nil {
				t.Fatalf("NewPlanWith: %v", err)
			}
			return p
		}
		if res := liveInstall(ctx, t, deps, plan(st), standinImages, project); res.err != nil {
			t.Fatalf("first install: %v\n%s", res.err, res.out)
		}
		if got := servedCert(ctx, t, httpsPort); got != leafDER(t, st.TLS.CertPEM) {
			t.Fatal("the router does not serve the uploaded certificate")
		}
		// Exactly the router's uid reads its key, exactly the APIs' uid
		// key.json; an unrelated uid neither.
		for rel, want := range map[string][]int{filepath.Join(CertsDir, RouterKeyFile): {101}, filepath.Join(CertsDir, ServiceKeyFile): {1000}} {
			if got, err := fileaccess.Readers(filepath.Join(dir, rel)); err != nil || !slices.Equal(got, want) {
				t.Errorf("%s readers %v, %v; want %v", rel, got, err, want)
			}
		}
		// The processes below start at /, not at a bind mount: let them
		// through the test's own 0700 temporary directories.
		for p := dir; p != os.TempDir() && p != "/"; p = filepath.Dir(p) {
			os.Chmod(p, 0o711)
		}
		if readableBy(t, 4242, filepath.Join(dir, CertsDir, RouterKeyFile)) || !readableBy(t, 101, filepath.Join(dir, CertsDir, RouterKeyFile)) {
			t.Error("the router key is readable by another uid than the router's, or not by the router's")
		}

		// The admin adds a setting by hand; installing again keeps it
		// (.env changes, so Compose recreates the services itself).
		handEdit(t, dir, func(s string) string {
			return s + "\n# intranet portal\nIFRAME_ALLOWED_DOMAINS=https://intranet.example.com\n"
		})
		p := plan(st)
		if diff := cmp.Diff([]string{"IFRAME_ALLOWED_DOMAINS:added"}, keysOf(p.Report().KeptEdits)); diff != "" {
			t.Errorf("kept edits (-want +got):\n%s", diff)
		}
		if res := liveInstall(ctx, t, deps, p, standinImages, project); res.err != nil {
			t.Fatalf("install after the hand edit: %v\n%s", res.err, res.out)
		}
		if v := valueIn(t, mustRead(t, dir, CustomerEnvFile), "IFRAME_ALLOWED_DOMAINS"); v.Text != "https://intranet.example.com" {
			t.Errorf("the hand edit was lost: %+v", v)
		}

		// A new certificate, and nothing else: Compose leaves the router
		// running, so the install restarts it, and it alone.
		cert, key, err := selfsigned.Generate(selfsigned.Request{CommonName: st.Domain.Domain, DNSNames: []string{st.Domain.Domain},
			NotBefore: time.Now().Add(-time.Minute), Validity: 2 * time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		st.TLS.CertPEM, st.TLS.KeyPEM = string(cert), string(key)
		p = plan(st)
		if diff := cmp.Diff([]Restart{{Service: "router-http", Files: []string{"certs/" + RouterCertFile, "certs/" + RouterKeyFile}}}, p.Report().Restarts); diff != "" {
			t.Errorf("restarts (-want +got):\n%s", diff)
		}
		res := liveInstall(ctx, t, deps, p, standinImages, project)
		if res.err != nil {
			t.Fatalf("install with a new certificate: %v\n%s", res.err, res.out)
		}
		if !strings.Contains(res.out, "Restarting router-http") || strings.Count(res.out, "Restarting ") != 1 {
			t.Errorf("the job log does not show exactly the router restarting:\n%s", res.out)
		}
		if got := servedCert(ctx, t, httpsPort); got != leafDER(t, string(cert)) {
			t.Error("the router still serves the old certificate")
		}

		// The same answers again: nothing written, nothing restarted.
		before := hashTree(t, dir)
		p = plan(st)
		if r := p.Report().Restarts; len(r) != 0 {
			t.Errorf("restarts with the same answers: %+v", r)
		}
		res = liveInstall(ctx, t, deps, p, standinImages, project)
		if res.err != nil {
			t.Fatalf("third install: %v\n%s", res.err, res.out)
		}
		if strings.Contains(res.out, "Restarting ") {
			t.Errorf("the same answers restarted a service:\n%s", res.out)
		}
		if diff := cmp.Diff(before, hashTree(t, dir)); diff != "" {
			t.Errorf("the same answers changed files (-before +after):\n%s", diff)
		}
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
	dir     string
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
	composeCleanup(ctx, t, deps, dir, project)
	res := liveInstall(ctx, t, deps, plan, standinImages, project)
	res.dir = dir
	return res
}

// composeCleanup takes the project down with its volumes when the test
// ends.
func composeCleanup(ctx context.Context, t *testing.T, deps Deps, dir, project string) {
	t.Helper()
	tool, err := deps.Compose.Detect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		// compose.Down keeps named volumes; this removes them too. Docker
		// 20.10 may still hold the endpoint of a container it has just
		// removed, which fails the network's removal for a moment.
		argv := tool.Args(project, dir, "down", "--volumes", "--remove-orphans")
		var all []byte
		var err error
		for range 6 {
			var b []byte
			b, err = exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput()
			all = append(all, b...)
			if err == nil || !bytes.Contains(b, []byte("active endpoints")) {
				break
			}
			time.Sleep(2 * time.Second)
		}
		switch {
		case err != nil && bytes.Contains(all, []byte("active endpoints")):
			// Only the network is left, held by the daemon's stale
			// endpoint: the loop below removes it or says so.
			t.Logf("compose down --volumes left the network: %v", err)
		case err != nil:
			t.Errorf("compose down --volumes: %v\n%s", err, all)
		}
		// Compose v1 can leave the network behind while reporting success;
		// whatever of the project is left goes now.
		res := newTestResources(t)
		for attempt := 0; ; attempt++ {
			vols, _ := res.ProjectVolumes(ctx, project)
			nets, _ := res.ProjectNetworks(ctx, project)
			for _, v := range vols {
				res.RemoveVolume(ctx, v.Name)
			}
			for _, n := range nets {
				res.RemoveNetwork(ctx, n.Name)
			}
			if len(vols)+len(nets) == 0 {
				break
			}
			if attempt == 5 {
				if len(vols) > 0 {
					t.Errorf("volumes left behind after compose down: %v", vols)
				}
				// Docker 20.10 sometimes keeps a stale endpoint of a
				// container that no longer exists; the network then cannot
				// be removed until the daemon restarts.
				t.Logf("networks the daemon will not remove (a stale endpoint of a removed container): %v", nets)
				break
			}
			time.Sleep(2 * time.Second)
		}
	})
}

// liveInstall runs an install of plan under project.
func liveInstall(ctx context.Context, t *testing.T, deps Deps, plan Plan, images func(context.Context, Plan, io.Writer) error, project string) liveResult {
	t.Helper()
	hub := logstream.NewHub(logstream.HubConfig{})
	board := NewBoard(BoardConfig{Settle: 3 * time.Second})
	var out testenv.Buffer
	start := time.Now()
	err := Run(ctx, deps, RunConfig{Plan: plan, Project: project, Expect: 3 * time.Minute, EnsureImages: images,
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

// realisticLiveState is liveState on the realistic customer package; it
// returns the host port of the router's HTTPS.
func realisticLiveState(t *testing.T) (wizard.State, int) {
	t.Helper()
	st := liveState(t)
	env, err := release.RealisticCustomerEnv(release.RealisticOldVersion)
	if err != nil {
		t.Fatal(err)
	}
	https := testenv.FreePortAll(t)
	st.Package.CustomerEnv = string(env) + fmt.Sprintf(
		"\n# Test settings of the stand-in release\nROUTER_HTTP_PORT=%d\nROUTER_HTTPS_PORT=%d\nROUTER_METRICS_PORT=%d\nWORKSPACE_MIGRATIONS_MAX_RETRIES=2\nSTANDIN_LOG_INTERVAL=1s\n",
		testenv.FreePortAll(t), https, testenv.FreePortAll(t))
	return st, https
}

// servedCert returns the DER of the leaf certificate the router serves on
// the host port, retrying while it starts.
func servedCert(ctx context.Context, t *testing.T, port int) string {
	t.Helper()
	var last error
	for range 40 {
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 2 * time.Second}, "tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
			&tls.Config{InsecureSkipVerify: true}) // the certificate itself is what is compared
		if err == nil {
			der := conn.ConnectionState().PeerCertificates[0].Raw
			conn.Close()
			return string(der)
		}
		last = err
		select {
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		case <-time.After(500 * time.Millisecond):
		}
	}
	t.Fatalf("no TLS on port %d: %v", port, last)
	return ""
}

func leafDER(t *testing.T, certPEM string) string {
	t.Helper()
	b, _ := pem.Decode([]byte(certPEM))
	if b == nil {
		t.Fatal("no PEM certificate")
	}
	return string(b.Bytes)
}

// readableBy reports whether uid (with its own gid, no other group) can
// read path, by running cat as that user.
func readableBy(t *testing.T, uid int, path string) bool {
	t.Helper()
	if os.Geteuid() != 0 {
		testenv.Missing(t, "root", "run the tests as root (as CI does): they read files as other uids")
	}
	cmd := exec.Command(testenv.LookPath(t, "cat", "apt-get install coreutils"), path)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(uid), Groups: []uint32{}}}
	return cmd.Run() == nil
}

// testResources is the product's ProjectResources (*engine.Client), plus
// a way to create a labelled volume as an earlier install would have.
type testResources struct {
	*engine.Client
	api *client.Client
}

func newTestResources(t *testing.T) testResources {
	t.Helper()
	api, err := client.New(client.FromEnv)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { api.Close() })
	eng, err := engine.New(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	return testResources{Client: eng, api: api}
}

func (r testResources) createVolume(ctx context.Context, t *testing.T, name, project string) {
	t.Helper()
	if _, err := r.api.VolumeCreate(ctx, client.VolumeCreateOptions{Name: name, Labels: map[string]string{engine.LabelComposeProject: project}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.api.VolumeRemove(context.Background(), name, client.VolumeRemoveOptions{Force: true}) })
}
