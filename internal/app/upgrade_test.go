package app_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/carto-setup/carto-setup/internal/answers"
	"github.com/carto-setup/carto-setup/internal/certcheck"
	"github.com/carto-setup/carto-setup/internal/custpkg"
	"github.com/carto-setup/carto-setup/internal/demo/release"
	"github.com/carto-setup/carto-setup/internal/demo/standin"
	"github.com/carto-setup/carto-setup/internal/deploy"
	"github.com/carto-setup/carto-setup/internal/e2e"
	"github.com/carto-setup/carto-setup/internal/engine"
	"github.com/carto-setup/carto-setup/internal/pgtest"
	"github.com/carto-setup/carto-setup/internal/testenv"
	"github.com/carto-setup/carto-setup/internal/wizard"
)

// upgradeOutput is `upgrade --json`, decoded strictly.
type upgradeOutput struct {
	From      string `json:"from"`
	To        string `json:"to"`
	Result    string `json:"result"`
	Message   string `json:"message"`
	HistoryID int    `json:"history_id"`
	Steps     []struct {
		Name, Status, Message string
	} `json:"steps"`
	Checks []json.RawMessage `json:"checks"`
	Plan   *struct {
		From             string            `json:"from"`
		To               string            `json:"to"`
		Direction        string            `json:"direction"`
		PackageVersion   string            `json:"package_version"`
		MinVersion       string            `json:"min_version"`
		VariablesAdded   []string          `json:"variables_added"`
		VariablesRemoved []string          `json:"variables_removed"`
		Overrides        []json.RawMessage `json:"overrides"`
		Services         []struct {
			Service, Previous, Change, Reason string
			OldImage                          string `json:"old_image"`
			NewImage                          string `json:"new_image"`
		} `json:"services"`
		Blocking []checkResult     `json:"blocking"`
		Checks   []json.RawMessage `json:"checks"`
	} `json:"plan"`
	Preflight []checkResult `json:"preflight"`
	Backup    *struct {
		Path           string `json:"path"`
		Size           int64  `json:"size"`
		SHA256         string `json:"sha256"`
		Method         string `json:"method"`
		Verified       string `json:"verified"`
		SnapshotReason string `json:"snapshot_reason"`
		Unavailable    []string
		RestoreCommand string `json:"restore_command"`
	} `json:"backup"`
	Services []struct {
		Service, Previous, Change, State, Status, Reason string
		OldImage                                         string `json:"old_image"`
		NewImage                                         string `json:"new_image"`
		Recreated                                        bool   `json:"recreated"`
		ExitCode                                         *int   `json:"exit_code"`
	} `json:"services"`
	MigrationsExitCode *int          `json:"migrations_exit_code"`
	Smoke              []checkResult `json:"smoke"`
	Started            time.Time     `json:"started"`
	Ended              *time.Time    `json:"ended"`
}

// checkResult is one check.Result in the JSON shape.
type checkResult struct {
	Step, ID, Status, Measured, Required, Message, Hint string
}

func decodeUpgrade(t *testing.T, stdout string) upgradeOutput {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(stdout))
	dec.DisallowUnknownFields()
	var out upgradeOutput
	if err := dec.Decode(&out); err != nil {
		t.Fatalf("upgrade --json is not the report's shape: %v\n%s", err, stdout)
	}
	return out
}

func (o upgradeOutput) step(name string) string {
	for _, s := range o.Steps {
		if s.Name == name {
			return s.Status
		}
	}
	return ""
}

// historyOutput is `history --json`, the documented contract.
type historyOutput struct {
	Entries []struct {
		ID             int               `json:"id"`
		Time           time.Time         `json:"time"`
		Action         string            `json:"action"`
		Release        string            `json:"release"`
		PackageVersion string            `json:"package_version"`
		Result         string            `json:"result"`
		Files          map[string]string `json:"files"`
	} `json:"entries"`
}

// releaseFiles hashes the files an install places in dir.
func releaseFiles(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, name := range []string{"customer.env", "key.json", ".env"} {
		if b, err := os.ReadFile(filepath.Join(dir, name)); err == nil {
			s := sha256.Sum256(b)
			out[name] = hex.EncodeToString(s[:])
		}
	}
	filepath.WalkDir(filepath.Join(dir, "certs"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			b, _ := os.ReadFile(p)
			s := sha256.Sum256(b)
			rel, _ := filepath.Rel(dir, p)
			out[rel] = hex.EncodeToString(s[:])
		}
		return nil
	})
	return out
}

// TestHeadlessUpgradeAndRestore walks the day-2 path on the command line,
// through app.Run, against real Docker, Compose, git and PostgreSQL: apply
// the older stand-in release; `git checkout` the newer tag; apply refuses
// and points to upgrade; upgrade with the older package stops at its plan
// (MIN_VERSION) with no file and no database touched; upgrade with the
// newer package plans, backs up and verifies the database, applies with
// old -> new images, migrates, and passes the smoke test; the history
// lists both; restore of the first entry brings its files back byte for
// byte and, across releases, leaves the database alone and prints the
// pg_restore command.
func TestHeadlessUpgradeAndRestore(t *testing.T) {
	e2e.NeedDocker(t)
	testenv.LookPath(t, "git", "apt-get install git")
	testenv.LookPath(t, "pg_dump", "apt-get install postgresql-client")
	bin := e2e.StaticBinary(t)
	ctx := context.Background()
	id := fmt.Sprintf("hu%d", rand.IntN(1e6))
	project := "up" + id
	dir := filepath.Join(t.TempDir(), "carto-selfhosted")
	tags, err := release.WriteRepoTags(dir, "-"+id)
	if err != nil {
		t.Fatal(err)
	}
	older, newer := tags[0], tags[1]
	pg := pgtest.Start(t, pgtest.Options{ListenAddrs: []string{"172.17.0.1"}})
	t.Cleanup(func() {
		teardown(t, dir, project, older)
		if eng, err := engine.New(context.Background()); err == nil {
			release.RemoveImages(context.Background(), eng, older)
			release.RemoveImages(context.Background(), eng, newer)
			eng.Close()
		}
	})

	// The customer packages of both releases, with free router ports.
	olderEnv, newerEnv := release.SampleCustomerEnvs("carto3-onprem.lan")
	ports := fmt.Sprintf("ROUTER_HTTP_PORT=%d\nROUTER_HTTPS_PORT=%d\nROUTER_METRICS_PORT=%d\n", testenv.FreePortAll(t), testenv.FreePortAll(t), testenv.FreePortAll(t))
	key, err := release.SampleKeyJSON()
	if err != nil {
		t.Fatal(err)
	}
	pkgOld, pkgNew := t.TempDir(), t.TempDir()
	for d, env := range map[string][]byte{pkgOld: olderEnv, pkgNew: newerEnv} {
		os.WriteFile(filepath.Join(d, "customer.env"), append(env, ports...), 0o600)
		os.WriteFile(filepath.Join(d, "key.json"), key, 0o600)
	}

	// The answers, as the wizard exports them, with a reason for each
	// check this machine fails (two CPUs, no internet, no DNS record).
	const domain = "carto.upgrade.test"
	files, results, sum := custpkg.ValidateFiles(append(olderEnv, ports...), key, custpkg.Release{Version: older, MinVersion: release.OlderMinVersion})
	for _, r := range results {
		if r.Status == "fail" {
			t.Fatalf("the older sample package fails against %s: %+v", older, r)
		}
	}
	certPEM, keyPEM, fp, err := certcheck.SelfSigned(domain, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	st := wizard.State{
		Package: wizard.PackageInput{CustomerEnv: string(files.CustomerEnv), KeyJSON: string(files.KeyJSON),
			Summary: wizard.PackageSummary{Tenant: sum.TenantID, PackageVersion: sum.PackageVersion}},
		Domain: wizard.DomainInput{Domain: domain},
		Database: wizard.DatabaseInput{Mode: wizard.ModeExternal, Host: "172.17.0.1", Port: pg.Port, AdminUser: pg.User, AdminPassword: pg.Password,
			AdminDatabase: "postgres", WorkspaceUser: "workspace_admin", WorkspacePassword: "up-workspace-Secret-1", WorkspaceDatabase: "workspace",
			SSLMode: "disable"},
		Cache:   wizard.CacheInput{Mode: wizard.ModeEmbedded, Port: 6379},
		TLS:     wizard.TLSInput{Mode: wizard.TLSSelfSigned, CertPEM: string(certPEM), KeyPEM: string(keyPEM), Fingerprint: fp},
		Buckets: wizard.BucketsInput{Mode: wizard.BucketsCartoManaged, Thumbnails: wizard.BucketInput{Public: true}},
	}
	text, err := answers.Export(st, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	f, err := answers.Parse(text, "", func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	f.Package = &answers.Package{CustomerEnv: filepath.Join(pkgOld, "customer.env"), KeyJSON: filepath.Join(pkgOld, "key.json")}
	write := func(f answers.File) string {
		t.Helper()
		b, err := yaml.Marshal(f)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(t.TempDir(), "answers.yaml")
		os.WriteFile(p, b, 0o600)
		return p
	}
	state := t.TempDir()
	closed := fmt.Sprintf("127.0.0.1:%d", testenv.ClosedPort(t))
	common := []string{"--dir", dir, "--state-dir", state, "--http-addr", "127.0.0.1:0", "--resolver", closed,
		"--project", project, "--standin-binary", bin, "--expect-timeout", "4m"}
	run := func(args ...string) (int, string, string) {
		t.Helper()
		return runApp(t, append(args, common...)...)
	}
	code, stdout, stderr := runApp(t, "check", "--json", "--answers", write(f), "--dir", dir, "--state-dir", t.TempDir(),
		"--http-addr", "127.0.0.1:0", "--resolver", closed)
	if code == 2 {
		t.Fatalf("check: invalid answers: %s", stderr)
	}
	for _, c := range decodeChecks(t, stdout).Checks {
		if c.Status == "fail" || c.Status == "error" {
			f.Overrides = append(f.Overrides, answers.Override{Check: c.ID, Reason: "upgrade test machine"})
		}
	}
	oldAnswers := write(f)
	f.Package = &answers.Package{CustomerEnv: filepath.Join(pkgNew, "customer.env"), KeyJSON: filepath.Join(pkgNew, "key.json")}
	newAnswers := write(f)

	// 1. The older release, installed headless.
	code, stdout, stderr = run("apply", "--answers", oldAnswers)
	if code != 0 {
		t.Fatalf("apply of %s: exit %d\nstdout:\n%s\nstderr:\n%s", older, code, stdout, stderr)
	}
	schema := func() (int, string) {
		t.Helper()
		var v int
		var r string
		if err := pg.Conn(t, "workspace").QueryRow(ctx, "SELECT version, release FROM standin_schema").Scan(&v, &r); err != nil {
			t.Fatal(err)
		}
		return v, r
	}
	if v, r := schema(); v != standin.SchemaVersion(older) || r != older {
		t.Fatalf("after the install the schema is %d by %s", v, r)
	}

	// 2. The admin checks out the newer tag; apply refuses.
	if out, err := exec.Command("git", "-C", dir, "-c", "advice.detachedHead=false", "checkout", "--quiet", "tags/"+newer).CombinedOutput(); err != nil {
		t.Fatalf("git checkout: %v\n%s", err, out)
	}
	code, _, stderr = run("apply", "--answers", newAnswers)
	if notice := newer + " is checked out; " + older + " is installed"; code != 1 || !strings.Contains(stderr, notice) || !strings.Contains(stderr, "carto-setup upgrade") {
		t.Fatalf("apply after the checkout moved: exit %d, want 1 naming %q and upgrade:\n%s", code, notice, stderr)
	}
	code, stdout, _ = runApp(t, "check", "preflight", "--json", "--answers", oldAnswers, "--dir", dir, "--state-dir", state)
	if s := decodeChecks(t, stdout).status("release.checked_out"); s != "warn" || !strings.Contains(stdout, newer+" is checked out; "+older+" is installed") {
		t.Errorf("check does not announce the upgrade (exit %d, status %q):\n%s", code, s, stdout)
	}

	// 3. The older package is below the newer MIN_VERSION: the upgrade
	// stops at its plan; no file and not the database are touched.
	before := releaseFiles(t, dir)
	code, stdout, stderr = run("upgrade", "--json", "--answers", oldAnswers)
	blocked := decodeUpgrade(t, stdout)
	if code != 1 || blocked.Result != "blocked" || blocked.step("plan") != "blocked" || blocked.step("backup") != "skipped" || blocked.Plan == nil {
		t.Fatalf("upgrade with the older package: exit %d, report %+v\nstderr:\n%s", code, blocked, stderr)
	}
	if i := slices.IndexFunc(blocked.Plan.Blocking, func(b checkResult) bool { return b.ID == "upgrade.min_version" }); i < 0 ||
		!strings.Contains(blocked.Plan.Blocking[i].Hint, "upload") {
		t.Errorf("the plan does not ask for the newer package: %+v", blocked.Plan.Blocking)
	}
	if blocked.Plan.From != older || blocked.Plan.To != newer || !slices.Contains(blocked.Plan.VariablesAdded, "WORKSPACE_HTTP_REQUEST_RESTRICT_IPS") {
		t.Errorf("plan %+v", blocked.Plan)
	}
	if after := releaseFiles(t, dir); !maps.Equal(after, before) {
		t.Errorf("the blocked upgrade changed files:\n%v\nwas:\n%v", after, before)
	}
	if v, _ := schema(); v != standin.SchemaVersion(older) {
		t.Errorf("the blocked upgrade changed the schema to %d", v)
	}
	if dumps, _ := filepath.Glob(filepath.Join(state, "backups", "*")); len(dumps) != 0 {
		t.Errorf("the blocked upgrade took a backup: %v", dumps)
	}

	// 4. With the newer package the upgrade goes through.
	code, stdout, stderr = run("upgrade", "--json", "--answers", newAnswers)
	t.Logf("upgrade progress:\n%s", stderr)
	up := decodeUpgrade(t, stdout)
	if code != 0 || up.Result != "succeeded" {
		t.Fatalf("upgrade: exit %d, result %s: %s\nsteps %+v", code, up.Result, up.Message, up.Steps)
	}
	for _, s := range []string{"plan", "preflight", "backup", "apply", "smoke"} {
		if up.step(s) != "passed" {
			t.Errorf("step %s: %s", s, up.step(s))
		}
	}
	if b := up.Backup; b == nil || b.Method != "host" || !strings.Contains(b.Verified, "scratch database") || !strings.Contains(b.RestoreCommand, "pg_restore") {
		t.Errorf("backup %+v", up.Backup)
	} else if got, err := os.ReadFile(b.Path); err != nil || int64(len(got)) != b.Size || fmt.Sprintf("%x", sha256.Sum256(got)) != b.SHA256 {
		t.Errorf("the backup file %s: %d bytes, %v", b.Path, len(got), err)
	}
	rows := map[string]int{}
	for i, s := range up.Services {
		rows[s.Service] = i
	}
	if i, ok := rows["workspace-api"]; !ok || up.Services[i].OldImage == up.Services[i].NewImage || !strings.HasSuffix(up.Services[i].NewImage, ":"+newer) ||
		!strings.HasSuffix(up.Services[i].OldImage, ":"+older) || !up.Services[i].Recreated || up.Services[i].State != "running" {
		t.Errorf("workspace-api on the board: %+v", up.Services)
	}
	if i, ok := rows["valkey"]; !ok || up.Services[i].Previous != "redis" || up.Services[i].Change != "renamed" {
		t.Errorf("the renamed cache on the board: %+v", up.Services)
	}
	if up.MigrationsExitCode == nil || *up.MigrationsExitCode != 0 {
		t.Errorf("workspace-migrations exit code %v", up.MigrationsExitCode)
	}
	if len(up.Smoke) == 0 {
		t.Error("no smoke results")
	}
	if v, r := schema(); v != standin.SchemaVersion(newer) || r != newer {
		t.Errorf("after the upgrade the schema is %d by %s", v, r)
	}

	// 5. The history lists both, newest first.
	code, stdout, _ = run("history", "--json")
	var hist historyOutput
	dec := json.NewDecoder(strings.NewReader(stdout))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&hist); err != nil || code != 0 {
		t.Fatalf("history --json: exit %d, %v\n%s", code, err, stdout)
	}
	if len(hist.Entries) != 2 || hist.Entries[0].Action != "upgrade" || hist.Entries[0].Release != newer || hist.Entries[0].Result != "succeeded" ||
		hist.Entries[0].PackageVersion != release.SamplePackageVersion || hist.Entries[1].Action != "install" || hist.Entries[1].Release != older ||
		hist.Entries[1].PackageVersion != release.OlderPackageVersion || hist.Entries[1].Result != "succeeded" || up.HistoryID != hist.Entries[0].ID {
		t.Fatalf("history:\n%s", stdout)
	}
	if now := releaseFiles(t, dir); !maps.Equal(now, hist.Entries[0].Files) {
		t.Errorf("the upgrade entry's files are not those on disk:\n%v\n%v", hist.Entries[0].Files, now)
	}
	installEntry, upgradeFiles := hist.Entries[1], hist.Entries[0].Files

	// 6. Restore of the first entry, across releases: the files come back
	// byte for byte, the checkout goes back to the older tag, the
	// database is left alone and the pg_restore command is printed.
	code, stdout, stderr = run("restore", fmt.Sprint(installEntry.ID))
	if code != 0 {
		t.Fatalf("restore: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if got := releaseFiles(t, dir); !maps.Equal(got, installEntry.Files) {
		t.Errorf("restored files:\n%v\nentry %d has:\n%v", got, installEntry.ID, installEntry.Files)
	}
	// The restored files are recorded as carto-setup's own writes, so
	// the next install does not take them for hand edits.
	if rec, ok, err := deploy.LoadRecord(state); err != nil || !ok {
		t.Errorf("the install record after the restore: %v %v", ok, err)
	} else {
		for path, sum := range installEntry.Files {
			if got := rec.Files[path].SHA256; got != sum {
				t.Errorf("the record has %s as %.12s, the restore wrote %.12s", path, got, sum)
			}
		}
	}
	for _, want := range []string{"forward-only", "The database is not restored", "pg_restore", up.Backup.Path, "--clean", "stop"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("restore output lacks %q:\n%s", want, stdout)
		}
	}
	if strings.Contains(stdout+stderr, pg.Password) {
		t.Error("restore printed the database password")
	}
	if v, r := schema(); v != standin.SchemaVersion(newer) || r != newer {
		t.Errorf("the restore touched the database: schema %d by %s", v, r)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "VERSION")); strings.TrimSpace(string(b)) != older {
		t.Errorf("the checkout is at %q after the restore, want %s", b, older)
	}
	code, stdout, _ = run("history", "--json")
	hist = historyOutput{}
	if err := json.Unmarshal([]byte(stdout), &hist); err != nil || code != 0 || len(hist.Entries) != 3 || hist.Entries[0].Action != "restore" ||
		hist.Entries[0].Release != older || hist.Entries[0].Result != "succeeded" {
		t.Errorf("history after the restore:\n%s", stdout)
	}
	// Forward again to the upgrade's files: the checkout moves to the
	// newer tag and the stack comes up on them (the database has that
	// release's schema), with the containers' read access given back.
	code, stdout, stderr = run("restore", fmt.Sprint(up.HistoryID))
	if code != 0 || strings.Contains(stdout, "The database is not restored") {
		t.Fatalf("restore of the upgrade: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if got := releaseFiles(t, dir); !maps.Equal(got, upgradeFiles) {
		t.Errorf("files after restoring the upgrade:\n%v\nwant:\n%v", got, upgradeFiles)
	}
	if !strings.Contains(stderr, "Every service reached its expected state.") {
		t.Errorf("the stack did not come up on the restored files:\n%s", stderr)
	}
	// The text history names every entry.
	_, stdout, _ = run("history")
	if !bytes.Contains([]byte(stdout), []byte("restore (command-line)")) || !strings.Contains(stdout, up.Backup.Path) {
		t.Errorf("history table:\n%s", stdout)
	}
}
