package upgradeflow

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/carto-setup/carto-setup/internal/certcheck"
	"github.com/carto-setup/carto-setup/internal/check"
	"github.com/carto-setup/carto-setup/internal/demo/release"
	"github.com/carto-setup/carto-setup/internal/deploy"
	"github.com/carto-setup/carto-setup/internal/history"
	"github.com/carto-setup/carto-setup/internal/testenv"
	"github.com/carto-setup/carto-setup/internal/upgrade"
	"github.com/carto-setup/carto-setup/internal/upgrade/gitrepo"
	"github.com/carto-setup/carto-setup/internal/wizard"
)

// repoFixture is a stand-in checkout with its two release tags, a state
// directory and a history.
type repoFixture struct {
	dir, state   string
	older, newer string
	h            *history.Store
}

func newRepo(t *testing.T) *repoFixture {
	t.Helper()
	testenv.LookPath(t, "git", "apt-get install git")
	f := &repoFixture{dir: filepath.Join(t.TempDir(), "carto-selfhosted"), state: t.TempDir()}
	tags, err := release.WriteRepo(f.dir)
	if err != nil {
		t.Fatal(err)
	}
	f.older, f.newer = tags[0], tags[1]
	if f.h, err = OpenHistory(f.state, time.Now); err != nil {
		t.Fatal(err)
	}
	return f
}

// state is a complete wizard state with the given customer package.
func state(t *testing.T, customerEnv []byte) wizard.State {
	t.Helper()
	key, err := release.SampleKeyJSON()
	if err != nil {
		t.Fatal(err)
	}
	cert, keyPEM, fp, err := certcheck.SelfSigned("carto.example.com", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return wizard.State{
		Package: wizard.PackageInput{CustomerEnv: string(customerEnv), KeyJSON: string(key)},
		Domain:  wizard.DomainInput{Domain: "carto.example.com"},
		Database: wizard.DatabaseInput{Mode: wizard.ModeExternal, Host: "db.example.com", Port: 5432, AdminUser: "postgres", AdminPassword: "admin-Secret-1",
			WorkspaceUser: "workspace_admin", WorkspacePassword: "ws-Secret-1", WorkspaceDatabase: "workspace"},
		Cache:   wizard.CacheInput{Mode: wizard.ModeEmbedded},
		TLS:     wizard.TLSInput{Mode: wizard.TLSSelfSigned, CertPEM: string(cert), KeyPEM: string(keyPEM), Fingerprint: fp},
		Buckets: wizard.BucketsInput{Mode: wizard.BucketsCartoManaged},
	}
}

// install writes st's files into the checkout as an install does and
// records it in the history.
func (f *repoFixture) install(t *testing.T, st wizard.State) history.Entry {
	t.Helper()
	p, err := deploy.NewPlanWith(st, f.dir, deploy.PlanOptions{StateDir: f.state})
	if err != nil {
		t.Fatal(err)
	}
	rec, err := f.h.Begin(history.Start{Action: history.Install, Origin: history.CommandLine, ReleaseDir: f.dir, Release: p.Version()})
	if err != nil {
		t.Fatal(err)
	}
	if err := deploy.ApplyWith(p, deploy.ApplyOptions{Now: time.Now()}); err != nil {
		t.Fatal(err)
	}
	e, err := rec.Finish(history.Succeeded, "installed")
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func (f *repoFixture) checkout(t *testing.T, tag string) {
	t.Helper()
	if out, err := exec.Command("git", "-C", f.dir, "-c", "advice.detachedHead=false", "checkout", "--quiet", "tags/"+tag).CombinedOutput(); err != nil {
		t.Fatalf("git checkout %s: %v\n%s", tag, err, out)
	}
}

func (f *repoFixture) flow() *Flow {
	return New(Config{ReleaseDir: f.dir, StateDir: f.state, History: f.h})
}

func TestDetectReleases(t *testing.T) {
	t.Parallel()
	f := newRepo(t)
	older, _ := release.SampleCustomerEnvs("carto.example.com")

	// Nothing installed: nothing to announce, every newer tag offered.
	r, err := DetectReleases(context.Background(), f.dir, f.h)
	if err != nil || r.Installed != "" || r.CheckedOut != f.older || r.Differs() || !r.Repo || len(r.Newer) != 1 || r.Newer[0].Name != f.newer {
		t.Fatalf("before the install: %+v %v", r, err)
	}
	e := f.install(t, state(t, older))
	f.checkout(t, f.newer)
	r, err = DetectReleases(context.Background(), f.dir, f.h)
	if err != nil {
		t.Fatal(err)
	}
	if want := f.newer + " is checked out; " + f.older + " is installed"; r.Notice() != want || r.InstalledEntry != e.ID || r.Direction() != upgrade.Forward {
		t.Errorf("after the checkout: notice %q, entry %d, direction %s", r.Notice(), r.InstalledEntry, r.Direction())
	}
	head, _ := exec.Command("git", "-C", f.dir, "rev-parse", "HEAD").Output()
	if r.Commit != strings.TrimSpace(string(head)) {
		t.Errorf("commit %q, HEAD %q", r.Commit, head)
	}

	// An install made before the history: .env says what is installed.
	r, err = DetectReleases(context.Background(), f.dir, nil)
	if err != nil || r.Installed != f.older || r.InstalledEntry != 0 {
		t.Errorf("from .env: %+v %v", r, err)
	}

	// Back to an older tag than the installed one.
	f.checkout(t, f.older)
	rec, _ := f.h.Begin(history.Start{Action: history.Upgrade, ReleaseDir: f.dir, Release: f.newer})
	rec.Finish(history.Succeeded, "")
	r, _ = DetectReleases(context.Background(), f.dir, f.h)
	if r.Direction() != upgrade.Backward || len(r.Newer) != 0 {
		t.Errorf("checkout older than installed: %+v", r)
	}

	// Not a git checkout.
	plain := t.TempDir()
	if err := release.Write(plain, ""); err != nil {
		t.Fatal(err)
	}
	if r, err := DetectReleases(context.Background(), plain, nil); err != nil || r.Repo || r.Installed != "" || r.Differs() {
		t.Errorf("plain release: %+v %v", r, err)
	}
}

// TestPlanMinVersion plans the stand-in upgrade: the older package stops
// it at MIN_VERSION with the upgrade's own words (install.sh's check is
// not repeated); the newer package, merged over the installed files,
// passes and the plan shows the release's changes. Planning writes
// nothing.
func TestPlanMinVersion(t *testing.T) {
	t.Parallel()
	f := newRepo(t)
	older, newer := release.SampleCustomerEnvs("carto.example.com")
	f.install(t, state(t, older))
	flow := f.flow()

	o, err := flow.Plan(context.Background(), state(t, older))
	if err != nil || o.Nothing == "" || o.Blocked() {
		t.Fatalf("with the installed release checked out: %+v %v", o.Nothing, err)
	}

	f.checkout(t, f.newer)
	before := snapshot(t, f.dir)
	o, err = flow.Plan(context.Background(), state(t, older))
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, b := range o.Plan.Blocking {
		ids = append(ids, b.ID)
	}
	if !o.Blocked() || !slices.Equal(ids, []string{"upgrade.min_version"}) {
		t.Errorf("older package: blocking %v", ids)
	}

	o, err = flow.Plan(context.Background(), state(t, newer))
	if err != nil {
		t.Fatal(err)
	}
	if o.Blocked() {
		t.Fatalf("newer package blocked: %+v", o.Plan.Blocking)
	}
	p := o.Plan
	if p.From != f.older || p.To != f.newer || p.Direction != upgrade.Forward || p.PackageVersion != release.SamplePackageVersion ||
		!slices.Contains(p.VariablesAdded, "WORKSPACE_HTTP_REQUEST_RESTRICT_IPS") || o.Install == nil {
		t.Errorf("plan %+v", p)
	}
	i := slices.IndexFunc(p.Services, func(s upgrade.ServiceChange) bool { return s.Service == "valkey" })
	if i < 0 || p.Services[i].Previous != "redis" || p.Services[i].Change != upgrade.Renamed {
		t.Errorf("services %+v", p.Services)
	}
	if after := snapshot(t, f.dir); !slices.Equal(after, before) {
		t.Error("planning wrote into the release directory")
	}
	rep := BlockedReport(o, time.Now())
	if rep.Result != ResultBlocked || rep.Step(StepPlan).Status != Passed || rep.Step(StepBackup).Status != Skipped {
		t.Errorf("report of a passing plan finished early: %+v", rep.Steps)
	}
}

// snapshot lists every file of dir with its content.
func snapshot(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			if d != nil && d.Name() == ".git" {
				return filepath.SkipDir
			}
			return nil
		}
		b, _ := os.ReadFile(p)
		out = append(out, p+"\x00"+string(b))
		return nil
	})
	return out
}

func TestCheckoutRefusesModifiedFiles(t *testing.T) {
	t.Parallel()
	f := newRepo(t)
	compose := filepath.Join(f.dir, "docker-compose.yml")
	b, _ := os.ReadFile(compose)
	os.WriteFile(compose, append(b, "# a hand edit\n"...), 0o644)
	err := Checkout(context.Background(), f.dir, f.newer)
	var dirty *gitrepo.DirtyError
	if !errors.As(err, &dirty) || !slices.Equal(dirty.Files, []string{"docker-compose.yml"}) {
		t.Fatalf("checkout with a modified tracked file: %v", err)
	}
	if v, _ := os.ReadFile(filepath.Join(f.dir, "VERSION")); strings.TrimSpace(string(v)) != f.older {
		t.Errorf("the refused checkout moved to %q", v)
	}
	if err := Checkout(context.Background(), t.TempDir(), f.newer); err == nil {
		t.Error("a checkout outside a git repository succeeded")
	}
}

// TestServiceRows: a service whose container is not one from before is
// recreated; a renamed one is compared with its old name's containers; a
// removed one is ok once its container is gone; the migrations' exit code
// is read from the board.
func TestServiceRows(t *testing.T) {
	plan := upgrade.Plan{Services: []upgrade.ServiceChange{
		{Service: "workspace-api", Previous: "workspace-api", Change: upgrade.Unchanged, OldImage: "a:1", NewImage: "a:2"},
		{Service: "router-http", Previous: "router-http", Change: upgrade.Unchanged, OldImage: "r:1", NewImage: "r:1"},
		{Service: "valkey", Previous: "redis", Change: upgrade.Renamed, OldImage: "c:1", NewImage: "c:2"},
		{Service: deploy.MigrationsService, Previous: deploy.MigrationsService, Change: upgrade.Unchanged},
		{Previous: "gone", Change: upgrade.Removed, OldImage: "g:1"},
		{Service: "workspace-postgres", Change: upgrade.Added, NewImage: "p:2"},
	}}
	exp := []deploy.Expectation{
		{Service: "workspace-api", Verdict: deploy.OK, Status: deploy.ServiceStatus{ID: "new-api", State: "running"}},
		{Service: "router-http", Verdict: deploy.OK, Status: deploy.ServiceStatus{ID: "old-router", State: "running"}},
		{Service: "valkey", Verdict: deploy.OK, Status: deploy.ServiceStatus{ID: "new-valkey", State: "running"}},
		{Service: deploy.MigrationsService, Verdict: deploy.OK, Status: deploy.ServiceStatus{ID: "m2", State: "exited", Exited: true, ExitCode: 0}},
	}
	before := map[string][]string{"workspace-api": {"old-api"}, "router-http": {"old-router"}, "redis": {"old-redis"}, "gone": {"g"}}
	rows, mig := serviceRows(plan, exp, map[string]int{"workspace-postgres": 0}, before, map[string][]string{})
	got := map[string]ServiceRow{}
	for _, r := range rows {
		got[r.Service] = r
	}
	if !got["workspace-api"].Recreated || got["router-http"].Recreated || !got["valkey"].Recreated {
		t.Errorf("recreated: %+v", rows)
	}
	if got["gone"].State != "removed" || got["gone"].Status != "ok" || got["workspace-postgres"].State != "not run (scaled to 0)" {
		t.Errorf("removed and scaled: %+v %+v", got["gone"], got["workspace-postgres"])
	}
	if mig == nil || *mig != 0 || got[deploy.MigrationsService].ExitCode == nil {
		t.Errorf("migrations exit code %v", mig)
	}
	// A removed service whose container is still there is not ok.
	rows, _ = serviceRows(plan, exp, nil, before, map[string][]string{"gone": {"g"}})
	for _, r := range rows {
		if r.Service == "gone" && r.Status != "failed" {
			t.Errorf("a removed service still running: %+v", r)
		}
	}
}

func TestFailedIDsAndSummaries(t *testing.T) {
	results := []check.Result{{ID: "a", Status: check.Fail}, {ID: "b", Status: check.Pass}, {ID: "c", Status: check.Error}}
	if got := failedIDs(results, map[string]string{"a": "because"}); !slices.Equal(got, []string{"c"}) {
		t.Errorf("failedIDs %v", got)
	}
	if got := preflightSummary(results, map[string]string{"a": "because", "c": "why"}); !strings.Contains(got, "a (because)") || !strings.HasPrefix(got, "1 passed") {
		t.Errorf("summary %q", got)
	}
}
