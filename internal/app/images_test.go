package app_test

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/carto-setup/carto-setup/internal/answers"
	"github.com/carto-setup/carto-setup/internal/demo/release"
	"github.com/carto-setup/carto-setup/internal/e2e"
	"github.com/carto-setup/carto-setup/internal/engine"
	"github.com/carto-setup/carto-setup/internal/images"
	"github.com/carto-setup/carto-setup/internal/pgtest"
	"github.com/carto-setup/carto-setup/internal/registrytest"
	"github.com/carto-setup/carto-setup/internal/testenv"
)

// registryInstall is a stand-in release whose images live only in an
// in-process registry (pushed with a random pad layer each, so that their
// pull moves real bytes), with a PostgreSQL the containers reach and an
// answers file that continues past what fails on this machine.
type registryInstall struct {
	dir, pkg, state  string
	project, version string
	bin              string
	reg              *registrytest.Registry
	eng              *engine.Client
	remote           []string // the release's images: router-http, standin
	answers          string
	closed           string
}

// registryOptions shape a registryInstall.
type registryOptions struct {
	pads []int64 // pad bytes of the router's image and the others'
	// skipRouter leaves the router's image out of the registry.
	skipRouter bool
}

func newRegistryInstall(t *testing.T, o registryOptions) *registryInstall {
	t.Helper()
	e2e.NeedDocker(t)
	f := &registryInstall{dir: t.TempDir(), pkg: t.TempDir(), state: t.TempDir(), bin: e2e.StaticBinary(t),
		project: fmt.Sprintf("img%06d", rand.IntN(1e6)), version: fmt.Sprintf("2026.8.11-img%d", rand.IntN(1e6)),
		eng: registrytest.Engine(t), reg: registrytest.Start(t, registrytest.Options{})}
	f.closed = fmt.Sprintf("127.0.0.1:%d", testenv.ClosedPort(t))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := release.Write(f.dir, f.version); err != nil {
		t.Fatal(err)
	}
	base := f.reg.Host + "/carto-standin"
	if err := release.UseRegistry(f.dir, base); err != nil {
		t.Fatal(err)
	}
	// The stand-in images, built here, pushed there, and removed here:
	// only the registry has them.
	if err := release.BuildImages(ctx, f.eng, f.bin, f.version, io.Discard); err != nil {
		t.Fatal(err)
	}
	local := release.ImageTags(f.version) // standin, router-http
	remote := release.RemoteImageTags(base, f.version)
	f.remote = []string{remote[1], remote[0]}
	registrytest.RemoveAfter(t, f.eng, f.remote...)
	for i := range local {
		isRouter := i == 1
		if isRouter && o.skipRouter {
			continue
		}
		pad := o.pads[0]
		if !isRouter {
			pad = o.pads[1]
		}
		if err := f.reg.PushPadded(ctx, f.eng, local[i], remote[i], pad); err != nil {
			t.Fatal(err)
		}
	}
	if err := release.RemoveImages(ctx, f.eng, f.version); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { teardown(t, f.dir, f.project, f.version) })

	// The customer package and the answers.
	pg := pgtest.Start(t, pgtest.Options{ListenAddrs: []string{"172.17.0.1"}})
	env := release.SampleCustomerEnv("carto3-onprem.lan")
	env = fmt.Appendf(env, "ROUTER_HTTP_PORT=%d\nROUTER_HTTPS_PORT=%d\nROUTER_METRICS_PORT=%d\n", testenv.FreePort(t), testenv.FreePort(t), testenv.FreePort(t))
	key, err := release.SampleKeyJSON()
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, data []byte) string {
		p := filepath.Join(f.pkg, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	no := false
	a := answers.File{Version: 1,
		Package: &answers.Package{CustomerEnv: write("customer.env", env), KeyJSON: write("key.json", key)},
		Domain:  "carto.images.test",
		Database: &answers.Database{Mode: "external", Host: "172.17.0.1", Port: pg.Port, AdminUser: pg.User,
			AdminPasswordFile: write("pg-admin", []byte(pg.Password)), AdminDatabase: "postgres", WorkspaceUser: "workspace_admin",
			WorkspacePasswordFile: write("pg-workspace", []byte("img-workspace-Secret-1")), WorkspaceDatabase: "workspace", SSL: &no},
		Cache:   &answers.Cache{Mode: "embedded"},
		TLS:     &answers.TLS{Mode: "self-signed"},
		Buckets: &answers.Buckets{Mode: "carto-managed"},
	}
	f.answers = filepath.Join(f.pkg, "answers.yaml")
	save := func() {
		b, err := yaml.Marshal(a)
		if err != nil {
			t.Fatal(err)
		}
		write("answers.yaml", b)
	}
	save()
	// A reason for everything this machine fails (two CPUs, no internet,
	// no DNS record); fixed failures stay failures all the same.
	_, stdout, stderr := f.run(t, "check", "--json", "--answers", f.answers, "--state-dir", t.TempDir())
	for _, c := range decodeChecksOrFail(t, stdout, stderr).Checks {
		if c.Status == "fail" || c.Status == "error" {
			a.Overrides = append(a.Overrides, answers.Override{Check: c.ID, Reason: "images test machine"})
		}
	}
	save()
	return f
}

func decodeChecksOrFail(t *testing.T, stdout, stderr string) checkOutput {
	t.Helper()
	if !strings.Contains(stdout, `"checks"`) {
		t.Fatalf("no JSON results:\nstdout: %s\nstderr: %s", stdout, stderr)
	}
	return decodeChecks(t, stdout)
}

// run runs carto-setup against the release, with a closed port 80 and
// resolver.
func (f *registryInstall) run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	return runApp(t, append(args, "--dir", f.dir, "--http-addr", "127.0.0.1:0", "--resolver", f.closed)...)
}

// apply installs with the answers.
func (f *registryInstall) apply(t *testing.T, extra ...string) (int, string, string) {
	t.Helper()
	args := append([]string{"apply", "--json", "--answers", f.answers, "--state-dir", f.state, "--project", f.project,
		"--standin-binary", f.bin, "--expect-timeout", "4m"}, extra...)
	return f.run(t, args...)
}

// imageEvents decodes the JSON progress lines apply --json writes to
// stderr, skipping the text lines between them.
func imageEvents(t *testing.T, stderr string) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(stderr))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if !strings.HasPrefix(sc.Text(), `{"event":`) {
			continue
		}
		var ev map[string]any
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("a progress line is not JSON: %q: %v", sc.Text(), err)
		}
		out = append(out, ev)
	}
	return out
}

func present(t *testing.T, eng *engine.Client, ref string) bool {
	t.Helper()
	_, err := eng.InspectImage(context.Background(), ref)
	if err != nil && !errors.Is(err, engine.ErrImageNotFound) {
		t.Fatal(err)
	}
	return err == nil
}

// TestApplyPullResumesAfterRegistryStops installs from the registry, which
// goes away while the second image downloads: apply fails within the
// stall timeout naming that image and its registry, before anything is
// written; once the registry is back, a second apply keeps the image
// that was complete, pulls the other and installs.
func TestApplyPullResumesAfterRegistryStops(t *testing.T) {
	f := newRegistryInstall(t, registryOptions{pads: []int64{4 << 20, 24 << 20}})
	router, standin := f.remote[0], f.remote[1]
	remote := &images.Remote{Keychain: f.reg.Keychain()}
	var standinSize int64
	if m, err := remote.Manifest(context.Background(), standin); err != nil {
		t.Fatal(err)
	} else {
		standinSize = m.Size()
	}
	f.reg.SetRate(2 << 20)

	// Stop the registry once the router's image is complete and the
	// other is on its way.
	var stoppedAt time.Time
	var mu sync.Mutex
	stopCtx, stopWatching := context.WithCancel(context.Background())
	defer stopWatching()
	go func() {
		for stopCtx.Err() == nil {
			if present(t, f.eng, router) && f.reg.BlobBytes() > 6<<20 {
				mu.Lock()
				stoppedAt = time.Now()
				mu.Unlock()
				f.reg.Stop()
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	code, stdout, stderr := f.apply(t, "--pull-stall-timeout", "5s")
	stopWatching()
	ended := time.Now()
	mu.Lock()
	stopped := stoppedAt
	mu.Unlock()
	t.Logf("first apply:\n%s", stderr)
	if stopped.IsZero() {
		t.Fatalf("the registry was never stopped: apply exit %d", code)
	}
	if code != 1 {
		t.Fatalf("apply with the registry gone: exit %d, want 1\nstdout: %s", code, stdout)
	}
	if took := ended.Sub(stopped); took > time.Minute {
		t.Errorf("apply ended %s after the registry stopped; the 5 s stall should name it long before", took)
	}
	if !strings.Contains(stderr, "install failed") || !strings.Contains(stderr, standin) || !strings.Contains(stderr, f.reg.Host) {
		t.Errorf("stderr does not name %s and its registry as the failure", standin)
	}
	if decodeApply(t, stdout).status("install.deploy") != "fail" {
		t.Errorf("install.deploy does not fail in the JSON report:\n%s", stdout)
	}
	// The JSON progress lines: the router's image done, the other failed.
	var routerDone, standinFailed bool
	for _, ev := range imageEvents(t, stderr) {
		if ev["event"] == "image" && ev["image"] == router && ev["status"] == "done" {
			routerDone = true
		}
		if ev["event"] == "image" && ev["image"] == standin && ev["status"] == "failed" {
			standinFailed = true
		}
	}
	if !routerDone || !standinFailed {
		t.Errorf("JSON progress lines: router done %v, %s failed %v", routerDone, standin, standinFailed)
	}
	for _, name := range []string{".env", "customer.env", "certs"} {
		if _, err := os.Stat(filepath.Join(f.dir, name)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s was written although the images were not there: %v", name, err)
		}
	}
	if !present(t, f.eng, router) || present(t, f.eng, standin) {
		t.Fatalf("after the failure: router present %v, %s present %v; want the complete one kept", present(t, f.eng, router), standin, present(t, f.eng, standin))
	}

	f.reg.Restart(t)
	f.reg.SetRate(0)
	before := f.reg.BlobBytes()
	code, stdout, stderr = f.apply(t)
	t.Logf("second apply:\n%s", stderr)
	if code != 0 {
		t.Fatalf("second apply: exit %d\nstdout: %s", code, stdout)
	}
	if !strings.Contains(stderr, router+" is present; not pulled.") || !strings.Contains(stderr, "Every service reached its expected state.") {
		t.Errorf("the second apply did not keep %s or did not bring the stack up", router)
	}
	served := f.reg.BlobBytes() - before
	if served < 24<<20 || served > standinSize+512<<10 {
		t.Errorf("the second apply downloaded %d bytes; want the rest, %s (%d bytes), and not the router's image again", served, standin, standinSize)
	}
}

// TestApplyMissingTagStopsAtPreflight: the registry lacks the router's
// image. The registry preflight fails naming it, no reason gets past it,
// and nothing is written.
func TestApplyMissingTagStopsAtPreflight(t *testing.T) {
	f := newRegistryInstall(t, registryOptions{pads: []int64{1 << 10, 1 << 10}, skipRouter: true})
	router := f.remote[0]
	code, stdout, stderr := f.apply(t)
	if code != 1 {
		t.Fatalf("apply: exit %d, want 1\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	var found bool
	for _, c := range decodeChecks(t, stdout).Checks {
		if c.ID == "preflight.images" {
			found = true
			if c.Status != "fail" || !strings.Contains(c.Message, router) || !strings.Contains(c.Measured, router+" (not_found)") {
				t.Errorf("preflight.images %s %q / %q, want a failure naming %s", c.Status, c.Message, c.Measured, router)
			}
		}
	}
	if !found {
		t.Fatalf("no preflight.images result:\n%s", stdout)
	}
	if !strings.Contains(stderr, "nothing was installed") || !strings.Contains(stderr, "preflight.images") {
		t.Errorf("stderr does not say the registry preflight stopped the install:\n%s", stderr)
	}
	for _, name := range []string{".env", "customer.env", "certs"} {
		if _, err := os.Stat(filepath.Join(f.dir, name)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s was written: %v", name, err)
		}
	}
}

// TestImagesSaveLoadOffline saves the release's images from the registry
// into a bundle, then, with the registry gone and the images removed,
// refuses a damaged copy naming its images, loads the bundle, and
// installs: the registry preflight passes offline.
func TestImagesSaveLoadOffline(t *testing.T) {
	f := newRegistryInstall(t, registryOptions{pads: []int64{1 << 20, 2 << 20}})
	bundle := filepath.Join(t.TempDir(), "carto-images.bundle")
	code, stdout, stderr := f.run(t, "images", "save", "-o", bundle)
	if code != 0 {
		t.Fatalf("images save: exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	data, err := os.ReadFile(bundle)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	if line, _ := os.ReadFile(bundle + ".sha256"); string(line) != hex.EncodeToString(sum[:])+"  carto-images.bundle\n" {
		t.Errorf("%s.sha256 is %q, not sha256sum's line for the bundle", bundle, line)
	}
	for _, ref := range f.remote {
		if !strings.Contains(stdout, ref) {
			t.Errorf("images save does not list %s:\n%s", ref, stdout)
		}
	}

	// This VM: no registry, no images.
	f.reg.Stop()
	ctx := context.Background()
	for _, ref := range f.remote {
		if err := f.eng.RemoveImage(ctx, ref); err != nil {
			t.Fatal(err)
		}
	}
	damaged := filepath.Join(t.TempDir(), "damaged.bundle")
	if err := os.WriteFile(damaged, registrytest.DamageBundle(t, data), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr = f.run(t, "images", "load", damaged)
	if code != 1 || !strings.Contains(stderr, "is damaged") || !strings.Contains(stderr, "affected images: ") {
		t.Fatalf("images load of a damaged copy: exit %d\n%s", code, stderr)
	}
	named := false
	for _, ref := range f.remote {
		named = named || strings.Contains(stderr, ref)
		if present(t, f.eng, ref) {
			t.Errorf("%s was loaded from a damaged bundle", ref)
		}
	}
	if !named {
		t.Errorf("the refusal names no image:\n%s", stderr)
	}

	code, stdout, stderr = f.run(t, "images", "load", bundle)
	if code != 0 || !strings.Contains(stdout, "Loaded 2 images") {
		t.Fatalf("images load: exit %d\n%s\n%s", code, stdout, stderr)
	}
	for _, ref := range f.remote {
		if !present(t, f.eng, ref) {
			t.Errorf("%s is not present after the load", ref)
		}
	}

	code, stdout, stderr = f.apply(t)
	if code != 0 {
		t.Fatalf("apply offline: exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	var offline bool
	for _, c := range decodeApply(t, stdout).Checks {
		if c.ID == "preflight.registry."+f.reg.Host {
			offline = c.Status == "pass" && strings.HasPrefix(c.Message, "offline: every image present")
		}
	}
	if !offline {
		t.Errorf("the registry preflight does not pass offline:\n%s", stdout)
	}
}
