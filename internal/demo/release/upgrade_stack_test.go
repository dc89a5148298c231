package release

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/carto-setup/carto-setup/internal/demo/standin"
	"github.com/carto-setup/carto-setup/internal/engine"
	"github.com/carto-setup/carto-setup/internal/pgtest"
	"github.com/carto-setup/carto-setup/internal/testenv"
)

// TestStackUpgradeAndBlockedDowngrade walks CARTO's documented upgrade
// with the stand-in repository and docker-compose against a real
// PostgreSQL: install the older release, check out the newer tag, install
// it with the newer package (the older one is refused by the MIN_VERSION
// check), `up -d --remove-orphans` replaces redis with valkey and the
// migrations raise the schema; checking the older tag out again and
// starting it makes workspace-migrations refuse the newer schema (exit 1).
func TestStackUpgradeAndBlockedDowngrade(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	eng, err := engine.New(ctx)
	if err != nil {
		testenv.Missing(t, "Docker Engine", "install Docker Engine 20.10+ and start it: "+err.Error())
	}
	t.Cleanup(func() { eng.Close() })
	testenv.LookPath(t, "docker", "apt-get install docker.io")
	testenv.LookPath(t, "git", "apt-get install git")
	compose := testenv.LookPath(t, "docker-compose", "apt-get install docker-compose")
	bash := testenv.LookPath(t, "bash", "apt-get install bash")

	const bridge = "172.17.0.1"
	pg := pgtest.Start(t, pgtest.Options{ListenAddrs: []string{bridge}})
	suffix := make([]byte, 4)
	rand.Read(suffix)
	id := hex.EncodeToString(suffix)
	project := "standinup" + id
	work := t.TempDir()
	dir := filepath.Join(work, "carto-selfhosted")
	tags, err := WriteRepoTags(dir, "-up"+id)
	if err != nil {
		t.Fatal(err)
	}

	bin := filepath.Join(work, "carto-setup")
	build := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", bin, "github.com/carto-setup/carto-setup/internal/demo/standin/testdata/standinmain")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	for _, tag := range tags {
		if err := BuildImages(ctx, eng, bin, tag, nil); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := RemoveImages(context.Background(), eng, tag); err != nil {
				t.Errorf("cleanup: %v", err)
			}
		})
	}

	older, newer := SampleCustomerEnvs("carto.upgrade.test")
	keyJSON, err := SampleKeyJSON()
	if err != nil {
		t.Fatal(err)
	}
	// 0644, as an admin copying CARTO's package with the usual umask
	// leaves it (install.sh copies key.json with its mode): the stand-in
	// images run as uids 101 and 1000, as CARTO's do.
	os.WriteFile(filepath.Join(dir, "key.json"), keyJSON, 0o644)
	pkg := func(env []byte) []byte {
		text := string(env)
		for k, v := range map[string]string{
			"LOCAL_POSTGRES_SCALE": "0", "WORKSPACE_POSTGRES_HOST": bridge, "WORKSPACE_POSTGRES_PORT": strconv.Itoa(pg.Port),
			"POSTGRES_ADMIN_USER": pg.User, "POSTGRES_ADMIN_PASSWORD": "'" + pg.Password + "'",
		} {
			text = setKey(text, k, v)
		}
		return []byte(text)
	}
	// install checks out tag, writes customer.env and runs install.sh.
	install := func(tag string, customerEnv []byte) string {
		t.Helper()
		if out, err := exec.Command("git", "-C", dir, "-c", "advice.detachedHead=false", "checkout", "--quiet", "tags/"+tag).CombinedOutput(); err != nil {
			t.Fatalf("git checkout %s: %v\n%s", tag, err, out)
		}
		os.WriteFile(filepath.Join(dir, "customer.env"), customerEnv, 0o600)
		cmd := exec.CommandContext(ctx, bash, "install.sh")
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("install.sh at %s: %v\n%s", tag, err, out)
		}
		return string(out)
	}
	composeEnv := append(os.Environ(), "ROUTER_HTTP_PORT="+strconv.Itoa(testenv.FreePortAll(t)),
		"ROUTER_HTTPS_PORT="+strconv.Itoa(testenv.FreePortAll(t)), "ROUTER_METRICS_PORT="+strconv.Itoa(testenv.FreePortAll(t)),
		"WORKSPACE_MIGRATIONS_MAX_RETRIES=1")
	run := func(ctx context.Context, args ...string) ([]byte, error) {
		cmd := exec.CommandContext(ctx, compose, append([]string{"-p", project}, args...)...)
		cmd.Dir, cmd.Env = dir, composeEnv
		return cmd.CombinedOutput()
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		for attempt := 0; attempt < 3; attempt++ {
			out, err := run(ctx, "down", "-v", "--remove-orphans", "-t", "5")
			if err == nil || !strings.Contains(string(out), "active endpoints") {
				if err != nil {
					t.Errorf("docker-compose down: %v\n%s", err, out)
				}
				return
			}
			time.Sleep(time.Second)
		}
	})
	logs := func(service string) string {
		out, _ := run(context.Background(), "logs", "--no-color", service)
		return string(out)
	}
	// settle waits until workspace-migrations has exited for good and
	// every other expected service runs, and returns the states.
	settle := func(cache string) map[string]containerState {
		t.Helper()
		// LOCAL_POSTGRES_SCALE=0: no workspace-postgres.
		var want []string
		for _, s := range standin.Services() {
			switch s {
			case "workspace-postgres", "workspace-migrations":
			case "valkey":
				want = append(want, cache)
			default:
				want = append(want, s)
			}
		}
		deadline := time.Now().Add(4 * time.Minute)
		for {
			states := composeStates(ctx, t, project)
			mig := states["workspace-migrations"]
			done := mig.status == "exited" && (mig.exitCode == 0 || mig.restarts >= 1)
			for _, s := range want {
				if states[s].status != "running" {
					done = false
				}
			}
			if done {
				return states
			}
			if time.Now().After(deadline) {
				t.Fatalf("the stack did not settle: %+v\n%s", states, logs("workspace-migrations"))
			}
			time.Sleep(time.Second)
		}
	}
	schema := func() (int, string) {
		var v int
		var r string
		if err := pg.Conn(t, "workspace").QueryRow(ctx, "SELECT version, release FROM standin_schema").Scan(&v, &r); err != nil {
			t.Fatal(err)
		}
		return v, r
	}

	// The older release, installed.
	if out := install(tags[0], pkg(older)); strings.Contains(out, "[ERROR]") {
		t.Fatalf("install.sh of the older release:\n%s", out)
	}
	if out, err := run(ctx, "up", "-d", "--remove-orphans"); err != nil {
		t.Fatalf("up: %v\n%s", err, out)
	}
	states := settle("redis")
	if st := states["workspace-migrations"]; st.exitCode != 0 {
		t.Fatalf("older migrations exited %d\n%s", st.exitCode, logs("workspace-migrations"))
	}
	if v, r := schema(); v != standin.SchemaVersion(tags[0]) || r != tags[0] {
		t.Fatalf("after the older install: schema %d by %s", v, r)
	}

	// The newer tag with the older package: install.sh says the package
	// is too old (and, as CARTO's, still exits 0).
	if out := install(tags[1], pkg(older)); !strings.Contains(out, "[ERROR]") {
		t.Errorf("install.sh accepted the older package for %s:\n%s", tags[1], out)
	}
	// With the newer package the upgrade goes through.
	if out := install(tags[1], pkg(newer)); strings.Contains(out, "[ERROR]") {
		t.Fatalf("install.sh of the newer release:\n%s", out)
	}
	if out, err := run(ctx, "up", "-d", "--remove-orphans"); err != nil {
		t.Fatalf("up after the checkout: %v\n%s", err, out)
	}
	states = settle("valkey")
	if st := states["workspace-migrations"]; st.exitCode != 0 {
		t.Fatalf("newer migrations exited %d\n%s", st.exitCode, logs("workspace-migrations"))
	}
	if _, ok := states["redis"]; ok {
		t.Error("the renamed redis service still has a container")
	}
	if v, r := schema(); v != standin.SchemaVersion(tags[1]) || r != tags[1] {
		t.Fatalf("after the upgrade: schema %d by %s", v, r)
	}
	if l := logs("workspace-migrations"); !strings.Contains(l, "name=0003_standin_workflows") {
		t.Errorf("the upgrade's migration log:\n%s", l)
	}

	// Back to the older tag: the files install, the migrations refuse.
	install(tags[0], pkg(older))
	if out, err := run(ctx, "up", "-d", "--remove-orphans"); err != nil {
		t.Fatalf("up after going back: %v\n%s", err, out)
	}
	states = settle("redis")
	if st := states["workspace-migrations"]; st.exitCode != 1 {
		t.Fatalf("older migrations on the newer schema exited %d, want 1\n%s", st.exitCode, logs("workspace-migrations"))
	}
	l := logs("workspace-migrations")
	for _, want := range []string{"forward-only", "written by release " + tags[1], "exiting with code 1"} {
		if !strings.Contains(l, want) {
			t.Errorf("the refusal does not say %q:\n%s", want, l)
		}
	}
	if v, r := schema(); v != standin.SchemaVersion(tags[1]) || r != tags[1] {
		t.Errorf("the refused downgrade changed the schema: %d by %s", v, r)
	}
}
