package deploy

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/carto-setup/carto-setup/internal/check"
	"github.com/carto-setup/carto-setup/internal/demo/release"
	"github.com/carto-setup/carto-setup/internal/envfile"
	"github.com/carto-setup/carto-setup/internal/fileaccess"
	"github.com/carto-setup/carto-setup/internal/selfsigned"
	"github.com/carto-setup/carto-setup/internal/wizard"
	"github.com/google/go-cmp/cmp"
)

// realisticState is the wizard's state for the realistic customer package
// of version, with an uploaded certificate and the embedded database and
// cache.
func realisticState(t *testing.T, version string) wizard.State {
	t.Helper()
	env, err := release.RealisticCustomerEnv(version)
	if err != nil {
		t.Fatal(err)
	}
	st := wizard.State{}
	st.Package.CustomerEnv = string(env)
	st.Package.KeyJSON = keyJSON
	st.Domain.Domain = "carto.example.com"
	st.Database.Mode = wizard.ModeEmbedded
	st.Cache.Mode = wizard.ModeEmbedded
	st.TLS = wizard.TLSInput{Mode: wizard.TLSUpload, CertPEM: certPEM, KeyPEM: keyPEM}
	st.Buckets.Mode = wizard.BucketsCartoManaged
	return st
}

// install plans and applies st with a state directory, failing the test on
// any error, and returns the plan.
func install(t *testing.T, st wizard.State, dir, stateDir string, res map[string]Resolution, now time.Time) Plan {
	t.Helper()
	p, err := NewPlanWith(st, dir, PlanOptions{StateDir: stateDir, Resolutions: res})
	if err != nil {
		t.Fatalf("NewPlanWith: %v", err)
	}
	if err := ApplyWith(p, ApplyOptions{Now: now}); err != nil {
		t.Fatalf("ApplyWith: %v", err)
	}
	return p
}

// hashTree returns the SHA-256 of every file under dir.
func hashTree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		s := sha256.Sum256(b)
		rel, _ := filepath.Rel(dir, path)
		out[rel] = hex.EncodeToString(s[:])
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// handEdit rewrites customer.env with edit, as an admin with an editor.
func handEdit(t *testing.T, dir string, edit func(string) string) {
	t.Helper()
	path := filepath.Join(dir, CustomerEnvFile)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(edit(string(b))), 0o600); err != nil {
		t.Fatal(err)
	}
}

// adminEdits are the admin's hand edits of customer.env after the first
// install: two keys added (the proxy carto-setup's preflight asks for, a
// Google Maps key), one changed, one removed, and one the wizard owns
// changed.
func adminEdits(s string) string {
	s = strings.Replace(s, "NGINX_CLIENT_MAX_BODY_SIZE='10M'", "NGINX_CLIENT_MAX_BODY_SIZE='50M'", 1)
	s = strings.Replace(s, "LOG_LEVEL=info\n", "", 1)
	s = strings.Replace(s, "SELFHOSTED_DOMAIN=carto.example.com", "SELFHOSTED_DOMAIN=carto.hand.example.com", 1)
	return s + "\n# added by the admin\nHTTPS_PROXY=http://proxy.internal:3128\nhttps_proxy=http://proxy.internal:3128\nGOOGLE_MAPS_API_KEY=AIzaFAKE-hand-0123456789abcdef\n"
}

func keysOf(cs []KeyChange) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Key+":"+string(c.Kind))
	}
	return out
}

func valueIn(t *testing.T, text []byte, key string) envfile.Value {
	t.Helper()
	f, err := envfile.Parse(text)
	if err != nil {
		t.Fatal(err)
	}
	return envfile.ValueOf(f, key)
}

// TestHandEditsSurvive installs the realistic package, edits customer.env
// by hand, and installs again with the same answers: every hand edit is
// kept and reported, the hand edit of a wizard key is a conflict that
// stops Apply with every file untouched, and each resolution does what it
// says.
func TestHandEditsSurvive(t *testing.T) {
	dir, stateDir := newRelease(t), t.TempDir()
	st := realisticState(t, release.RealisticOldVersion)
	now := time.Date(2026, 11, 22, 7, 15, 0, 0, time.UTC)
	first := install(t, st, dir, stateDir, nil, now)
	if r := first.Report(); len(r.Conflicts)+len(r.KeptEdits)+len(r.Overwritten) != 0 {
		t.Fatalf("first install report: %+v", r)
	}
	// The realistic package sets LOG_LEVEL, which env.tpl sets again.
	if !slices.Contains(first.Report().EnvTplOverrides, "LOG_LEVEL") {
		t.Errorf("no env.tpl override warning for LOG_LEVEL: %v", first.Report().EnvTplOverrides)
	}
	if !slices.ContainsFunc(first.Checks(), func(r check.Result) bool {
		return r.Status == check.Warn && r.ID == "install.env_tpl_override.log_level" && strings.Contains(r.Message, "LOG_LEVEL")
	}) {
		t.Errorf("no warning check naming LOG_LEVEL in %+v", first.Checks())
	}

	handEdit(t, dir, adminEdits)
	edited, _ := os.ReadFile(filepath.Join(dir, CustomerEnvFile))
	before := hashTree(t, dir)

	p, err := NewPlanWith(st, dir, PlanOptions{StateDir: stateDir})
	if err != nil {
		t.Fatal(err)
	}
	r := p.Report()
	if diff := cmp.Diff([]string{"NGINX_CLIENT_MAX_BODY_SIZE:changed", "HTTPS_PROXY:added", "https_proxy:added",
		"GOOGLE_MAPS_API_KEY:added", "LOG_LEVEL:removed"}, keysOf(r.KeptEdits)); diff != "" {
		t.Errorf("kept edits (-want +got):\n%s", diff)
	}
	for _, k := range r.KeptEdits {
		if strings.Contains(k.To, "AIzaFAKE") {
			t.Errorf("the report shows the Maps key: %+v", k)
		}
	}
	want := []Conflict{{Kind: ConflictWizard, Key: "SELFHOSTED_DOMAIN", Hand: "carto.hand.example.com", HandSet: true, Proposed: "carto.example.com", ProposedSet: true}}
	if diff := cmp.Diff(want, r.Conflicts); diff != "" {
		t.Errorf("conflicts (-want +got):\n%s", diff)
	}
	// Every hand edit is in the planned file already.
	for k, v := range map[string]envfile.Value{"HTTPS_PROXY": {Set: true, Text: "http://proxy.internal:3128"},
		"GOOGLE_MAPS_API_KEY": {Set: true, Text: "AIzaFAKE-hand-0123456789abcdef"}, "NGINX_CLIENT_MAX_BODY_SIZE": {Set: true, Text: "50M"}, "LOG_LEVEL": {}} {
		if got := valueIn(t, p.CustomerEnv(), k); got != v {
			t.Errorf("planned %s = %+v, want %+v", k, got, v)
		}
	}
	var ce *ConflictError
	if err := ApplyWith(p, ApplyOptions{Now: now.Add(time.Hour)}); !errors.As(err, &ce) || len(ce.Conflicts) != 1 {
		t.Fatalf("Apply with an open conflict = %v, want a *ConflictError", err)
	}
	if diff := cmp.Diff(before, hashTree(t, dir)); diff != "" {
		t.Errorf("Apply with an open conflict changed files (-before +after):\n%s", diff)
	}

	t.Run("keep mine", func(t *testing.T) {
		dir2, state2 := copyInstall(t, dir, stateDir)
		p := install(t, st, dir2, state2, map[string]Resolution{"SELFHOSTED_DOMAIN": KeepMine}, now.Add(2*time.Hour))
		got, _ := os.ReadFile(filepath.Join(dir2, CustomerEnvFile))
		if !strings.HasSuffix(string(got), "\n# added by the admin\nHTTPS_PROXY=http://proxy.internal:3128\nhttps_proxy=http://proxy.internal:3128\nGOOGLE_MAPS_API_KEY=AIzaFAKE-hand-0123456789abcdef\n") {
			t.Errorf("the admin's block is not kept as typed:\n%s", got)
		}
		if string(got) != string(edited) {
			t.Errorf("keeping every hand edit should leave customer.env as the admin left it:\n%s", cmp.Diff(string(edited), string(got)))
		}
		if v := valueIn(t, mustRead(t, dir2, DotEnvFile), "SELFHOSTED_DOMAIN"); v.Text != "carto.hand.example.com" {
			t.Errorf(".env domain = %q", v.Text)
		}
		if open := p.Report().Open(); len(open) != 0 {
			t.Errorf("open conflicts after resolution: %+v", open)
		}
		// Planning again with the same answers: no conflict (the hand
		// value is now what was written), nothing to write.
		again, err := NewPlanWith(st, dir2, PlanOptions{StateDir: state2})
		if err != nil {
			t.Fatal(err)
		}
		if r := again.Report(); len(r.Conflicts) != 0 || len(r.Restarts) != 0 {
			t.Errorf("report after keeping the edits: %+v", r)
		}
		for _, f := range again.Report().Files {
			if f.Action != FileUnchanged {
				t.Errorf("%s: %s, want unchanged", f.Path, f.Action)
			}
		}
		// The admin's choice is remembered while neither side changes
		// (it shows as a kept edit); a new wizard answer asks again.
		if diff := cmp.Diff([]string{"SELFHOSTED_DOMAIN:changed"}, keysOf(again.Report().KeptEdits)); diff != "" {
			t.Errorf("kept edits (-want +got):\n%s", diff)
		}
		st2 := st
		st2.Domain.Domain = "carto.other.example.com"
		asked, err := NewPlanWith(st2, dir2, PlanOptions{StateDir: state2})
		if err != nil {
			t.Fatal(err)
		}
		if open := asked.Report().Open(); len(open) != 1 || open[0].Key != "SELFHOSTED_DOMAIN" || open[0].Proposed != "carto.other.example.com" {
			t.Errorf("open conflicts after a new answer: %+v", open)
		}
	})
	t.Run("take the wizard's", func(t *testing.T) {
		dir2, state2 := copyInstall(t, dir, stateDir)
		install(t, st, dir2, state2, map[string]Resolution{"SELFHOSTED_DOMAIN": TakeWizard}, now.Add(2*time.Hour))
		got := mustRead(t, dir2, CustomerEnvFile)
		if v := valueIn(t, got, "SELFHOSTED_DOMAIN"); v.Text != "carto.example.com" {
			t.Errorf("domain = %q, want the wizard's", v.Text)
		}
		if v := valueIn(t, got, "GOOGLE_MAPS_API_KEY"); v.Text != "AIzaFAKE-hand-0123456789abcdef" {
			t.Errorf("the Maps key was lost: %+v", v)
		}
		bak := mustRead(t, dir2, CustomerEnvFile+".bak-20261122T091500")
		if string(bak) != string(edited) {
			t.Error("the backup does not hold the hand-edited customer.env")
		}
	})
}

// TestNewerPackageMerge installs the old realistic package, edits it by
// hand, then uploads the newer package: CARTO's changes come in, the hand
// edits stay, the wizard's keys apply, and the one key both changed is a
// package conflict.
func TestNewerPackageMerge(t *testing.T) {
	dir, stateDir := newRelease(t), t.TempDir()
	st := realisticState(t, release.RealisticOldVersion)
	now := time.Date(2026, 11, 22, 7, 15, 0, 0, time.UTC)
	install(t, st, dir, stateDir, nil, now)
	handEdit(t, dir, func(s string) string {
		return strings.Replace(adminEdits(s), "SELFHOSTED_DOMAIN=carto.hand.example.com", "SELFHOSTED_DOMAIN=carto.example.com", 1)
	})

	st2 := realisticState(t, release.RealisticNewVersion)
	st2.Domain.Domain = "carto2.example.com" // and a new answer
	p, err := NewPlanWith(st2, dir, PlanOptions{StateDir: stateDir})
	if err != nil {
		t.Fatal(err)
	}
	r := p.Report()
	if diff := cmp.Diff([]string{"CARTO_SELFHOSTED_CUSTOMER_PACKAGE_VERSION:changed", "LAUNCHDARKLY_SDK_KEY:changed",
		"AT_TOKENLESS_RESOLVER_AUTH_USER:added", "AT_TOKENLESS_RESOLVER_AUTH_PASSWORD:added"}, keysOf(r.PackageChanges)); diff != "" {
		t.Errorf("package changes (-want +got):\n%s", diff)
	}
	for _, c := range r.PackageChanges {
		if strings.Contains(c.From+c.To, "fake-") {
			t.Errorf("a package change shows a secret: %+v", c)
		}
	}
	want := []Conflict{{Kind: ConflictPackage, Key: "NGINX_CLIENT_MAX_BODY_SIZE", Hand: "50M", HandSet: true}}
	if diff := cmp.Diff(want, r.Conflicts); diff != "" {
		t.Errorf("conflicts (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"HTTPS_PROXY:added", "https_proxy:added", "GOOGLE_MAPS_API_KEY:added", "LOG_LEVEL:removed"}, keysOf(r.KeptEdits)); diff != "" {
		t.Errorf("kept edits (-want +got):\n%s", diff)
	}
	install(t, st2, dir, stateDir, map[string]Resolution{"NGINX_CLIENT_MAX_BODY_SIZE": KeepMine}, now.Add(time.Hour))
	got := mustRead(t, dir, CustomerEnvFile)
	for k, v := range map[string]string{
		"CARTO_SELFHOSTED_CUSTOMER_PACKAGE_VERSION": release.RealisticNewVersion,
		"LAUNCHDARKLY_SDK_KEY":                      "sdk-fake-realistic-rotated-9999-8888-7777-666655554444",
		"AT_TOKENLESS_RESOLVER_AUTH_USER":           "at-resolver",
		"SELFHOSTED_DOMAIN":                         "carto2.example.com",
		"NGINX_CLIENT_MAX_BODY_SIZE":                "50M",
		"HTTPS_PROXY":                               "http://proxy.internal:3128",
		"GOOGLE_MAPS_API_KEY":                       "AIzaFAKE-hand-0123456789abcdef",
	} {
		if g := valueIn(t, got, k); g.Text != v {
			t.Errorf("%s = %q, want %q", k, g.Text, v)
		}
	}
	if g := valueIn(t, got, "LOG_LEVEL"); g.Set {
		t.Errorf("LOG_LEVEL came back: %+v", g)
	}
	// The next plan with the same answers changes nothing.
	again, err := NewPlanWith(st2, dir, PlanOptions{StateDir: stateDir})
	if err != nil {
		t.Fatal(err)
	}
	if r := again.Report(); len(r.Conflicts)+len(r.PackageChanges)+len(r.KeptEdits) != 0 {
		t.Errorf("report after the merge: %+v", r)
	}
}

// TestSameAnswersChangeNothing applies the same answers twice: the second
// plan changes no file and restarts nothing, and applying it keeps every
// file's inode and modification time.
func TestSameAnswersChangeNothing(t *testing.T) {
	dir, stateDir := newRelease(t), t.TempDir()
	st := realisticState(t, release.RealisticOldVersion)
	first := install(t, st, dir, stateDir, nil, time.Now())
	if len(first.Report().Restarts) == 0 {
		t.Error("a first install lists no service reading its new files")
	}
	stats := map[string]os.FileInfo{}
	for _, f := range first.Files() {
		fi, err := os.Stat(filepath.Join(dir, f.Path))
		if err != nil {
			t.Fatal(err)
		}
		stats[f.Path] = fi
	}
	before := hashTree(t, dir)
	p, err := NewPlanWith(st, dir, PlanOptions{StateDir: stateDir})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range p.Report().Files {
		if f.Action != FileUnchanged || f.Backup || f.HandEdited {
			t.Errorf("%+v, want unchanged", f)
		}
	}
	if r := p.Report().Restarts; len(r) != 0 {
		t.Errorf("restarts %+v, want none", r)
	}
	if d := p.Diff(); len(d) != 0 {
		t.Errorf("diff %v", d)
	}
	if err := ApplyWith(p, ApplyOptions{Now: time.Now()}); err != nil {
		t.Fatal(err)
	}
	for path, fi := range stats {
		after, _ := os.Stat(filepath.Join(dir, path))
		if !os.SameFile(fi, after) || !after.ModTime().Equal(fi.ModTime()) {
			t.Errorf("%s was rewritten", path)
		}
	}
	if diff := cmp.Diff(before, hashTree(t, dir)); diff != "" {
		t.Errorf("files changed (-before +after):\n%s", diff)
	}
}

// TestChangedFilesRestartTheirReaders: a new router certificate restarts
// the router only, a new key.json every service that reads it but not the
// router, and a new database CA only the services that mount it at the
// path .env names.
func TestChangedFilesRestartTheirReaders(t *testing.T) {
	dir, stateDir := newRelease(t), t.TempDir()
	st := realisticState(t, release.RealisticOldVersion)
	install(t, st, dir, stateDir, nil, time.Now())
	restarts := func(st wizard.State) []Restart {
		t.Helper()
		p, err := NewPlanWith(st, dir, PlanOptions{StateDir: stateDir})
		if err != nil {
			t.Fatal(err)
		}
		return p.Report().Restarts
	}
	cert, key, err := selfsigned.Generate(selfsigned.Request{CommonName: "carto.example.com", DNSNames: []string{"carto.example.com"}, NotBefore: time.Now(), Validity: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	renewed := st
	renewed.TLS.CertPEM, renewed.TLS.KeyPEM = string(cert), string(key)
	want := []Restart{{Service: "router-http", Files: []string{"certs/" + RouterCertFile, "certs/" + RouterKeyFile}}}
	if diff := cmp.Diff(want, restarts(renewed)); diff != "" {
		t.Errorf("restarts for a new certificate (-want +got):\n%s", diff)
	}

	newKey := st
	newKey.Package.KeyJSON = strings.Replace(keyJSON, "0123456789abcdef0123", "fedcba9876543210fedc", 1)
	var names []string
	for _, r := range restarts(newKey) {
		names = append(names, r.Service)
		if !slices.Equal(r.Files, []string{"certs/key.json"}) {
			t.Errorf("%s restarts for %v", r.Service, r.Files)
		}
	}
	wantNames := []string{"router-metrics", "workspace-api", "workspace-subscriber", "workspace-migrations", "maps-api",
		"sql-worker", "cdn-invalidator-sub", "import-api", "import-worker", "lds-api"}
	if diff := cmp.Diff(wantNames, names); diff != "" {
		t.Errorf("services restarted for a new key.json (-want +got):\n%s", diff)
	}
}

// TestFileReadersFromMountsAndEnv checks who reads each file: the router
// its certificate and key (mounted at /etc/nginx/ssl), the APIs key.json
// and the CAs (at /usr/src/certs); nobody customer.env or .env.
func TestFileReadersFromMountsAndEnv(t *testing.T) {
	dir := newRelease(t)
	st := realisticState(t, release.RealisticOldVersion)
	externalDB(&st)
	st.Advanced.ExtraCAPEM = caPEM
	p, err := NewPlan(st, dir)
	if err != nil {
		t.Fatal(err)
	}
	apis := []string{"router-metrics", "workspace-api", "workspace-subscriber", "workspace-migrations", "maps-api",
		"sql-worker", "cdn-invalidator-sub", "import-api", "import-worker", "lds-api"}
	want := map[string][]string{
		"certs/key.json": apis, "certs/" + RouterCertFile: {"router-http"}, "certs/" + RouterKeyFile: {"router-http"},
		"certs/" + PostgresCAFile: apis, "certs/" + ExtraCAFile: apis,
		ServiceKeyFile: nil, CustomerEnvFile: nil, DotEnvFile: nil,
	}
	got := map[string][]string{}
	for _, f := range p.Files()[1:] {
		got[f.Path] = f.Readers
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("readers (-want +got):\n%s", diff)
	}
}

// TestDotEnvHandEditBackedUp edits .env by hand: the plan reports it and
// Apply keeps it as a backup before generating .env again.
func TestDotEnvHandEditBackedUp(t *testing.T) {
	dir, stateDir := newRelease(t), t.TempDir()
	st := realisticState(t, release.RealisticOldVersion)
	now := time.Date(2026, 11, 22, 7, 15, 0, 0, time.UTC)
	install(t, st, dir, stateDir, nil, now)
	path := filepath.Join(dir, DotEnvFile)
	b, _ := os.ReadFile(path)
	hand := strings.Replace(string(b), "LOG_LEVEL=debug", "LOG_LEVEL=warn", 1)
	os.WriteFile(path, []byte(hand), 0o600)
	p, err := NewPlanWith(st, dir, PlanOptions{StateDir: stateDir})
	if err != nil {
		t.Fatal(err)
	}
	r := p.Report()
	i := slices.IndexFunc(r.Files, func(f FileChange) bool { return f.Path == DotEnvFile })
	if f := r.Files[i]; f.Action != FileUpdate || !f.HandEdited || !f.Backup {
		t.Errorf(".env change %+v, want an update of a hand edit with a backup", f)
	}
	if !slices.ContainsFunc(r.Notices, func(n string) bool {
		return strings.Contains(n, ".env was edited by hand") && strings.Contains(n, "LOG_LEVEL")
	}) {
		t.Errorf("no notice naming LOG_LEVEL: %v", r.Notices)
	}
	if err := ApplyWith(p, ApplyOptions{Now: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if got := mustRead(t, dir, DotEnvFile+".bak-20261122T081500"); string(got) != hand {
		t.Error("the backup does not hold the hand-edited .env")
	}
	if got := mustRead(t, dir, DotEnvFile); string(got) != string(b) {
		t.Error(".env was not generated again")
	}
}

// TestHandReplacedCertificate replaces the router key by hand: a file
// conflict; keeping it writes nothing over it, taking the wizard's backs
// it up first.
func TestHandReplacedCertificate(t *testing.T) {
	dir, stateDir := newRelease(t), t.TempDir()
	st := realisticState(t, release.RealisticOldVersion)
	now := time.Date(2026, 11, 22, 7, 15, 0, 0, time.UTC)
	install(t, st, dir, stateDir, nil, now)
	rel := filepath.Join(CertsDir, RouterKeyFile)
	os.WriteFile(filepath.Join(dir, rel), []byte("hand key\n"), 0o600)
	p, err := NewPlanWith(st, dir, PlanOptions{StateDir: stateDir})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]Conflict{{Kind: ConflictFile, Key: rel}}, p.Report().Conflicts); diff != "" {
		t.Errorf("conflicts (-want +got):\n%s", diff)
	}
	install(t, st, dir, stateDir, map[string]Resolution{rel: KeepMine}, now.Add(time.Hour))
	if got := mustRead(t, dir, rel); string(got) != "hand key\n" {
		t.Error("the kept key was overwritten")
	}
	// The choice stands while neither side changes: kept, not asked again.
	p, err = NewPlanWith(st, dir, PlanOptions{StateDir: stateDir})
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(p.Report().Files, func(f FileChange) bool { return f.Path == rel })
	if len(p.Report().Conflicts) != 0 || p.Report().Files[i].Action != FileKeep {
		t.Fatalf("after keeping: conflicts %+v, %s %s", p.Report().Conflicts, rel, p.Report().Files[i].Action)
	}
	// A new key from the wizard asks again.
	st.TLS.KeyPEM = keyPEM + "\n"
	p, err = NewPlanWith(st, dir, PlanOptions{StateDir: stateDir})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]Conflict{{Kind: ConflictFile, Key: rel}}, p.Report().Conflicts); diff != "" {
		t.Errorf("conflicts after the wizard's key changed (-want +got):\n%s", diff)
	}
	install(t, st, dir, stateDir, map[string]Resolution{rel: TakeWizard}, now.Add(2*time.Hour))
	if got := mustRead(t, dir, rel); string(got) != st.TLS.KeyPEM {
		t.Error("the wizard's key was not written")
	}
	if got := mustRead(t, dir, rel+".bak-20261122T091500"); string(got) != "hand key\n" {
		t.Error("the hand key was not backed up")
	}
}

// TestNothingWrittenWhenACheckFails hashes every file, makes the plan or
// the apply fail in each way, and finds every file byte-identical.
func TestNothingWrittenWhenACheckFails(t *testing.T) {
	dir, stateDir := newRelease(t), t.TempDir()
	st := realisticState(t, release.RealisticOldVersion)
	install(t, st, dir, stateDir, nil, time.Now())
	st.Domain.Domain = "changed.example.com"
	p, err := NewPlanWith(st, dir, PlanOptions{StateDir: stateDir})
	if err != nil {
		t.Fatal(err)
	}
	before := hashTree(t, dir)
	records := hashTree(t, stateDir)

	os.WriteFile(filepath.Join(dir, "MIN_VERSION"), []byte("2027.1.1\n"), 0o644)
	before["MIN_VERSION"] = hashTree(t, dir)["MIN_VERSION"]
	var re *RefusedError
	if _, err := NewPlanWith(st, dir, PlanOptions{StateDir: stateDir}); !errors.As(err, &re) {
		t.Fatalf("NewPlan under a raised MIN_VERSION = %v", err)
	}
	bad := st
	bad.Database.Mode, bad.Database.AdminPassword = wizard.ModeExternal, "x\ny"
	if _, err := NewPlanWith(bad, dir, PlanOptions{StateDir: stateDir}); !errors.As(err, &re) {
		t.Fatalf("NewPlan with a line break in a password = %v", err)
	}
	// A file changed after the plan was made.
	os.WriteFile(filepath.Join(dir, CertsDir, "key.json"), []byte("{}"), 0o600)
	before[filepath.Join(CertsDir, "key.json")] = hashTree(t, dir)[filepath.Join(CertsDir, "key.json")]
	if err := ApplyWith(p, ApplyOptions{}); !errors.Is(err, ErrChangedSinceReview) {
		t.Fatalf("Apply after a change on disk = %v", err)
	}
	if diff := cmp.Diff(before, hashTree(t, dir)); diff != "" {
		t.Errorf("files changed (-before +after):\n%s", diff)
	}
	if diff := cmp.Diff(records, hashTree(t, stateDir)); diff != "" {
		t.Errorf("the record changed (-before +after):\n%s", diff)
	}
}

// TestCRLFNormalised: a CRLF customer.env is written with LF and the plan
// says so.
func TestCRLFNormalised(t *testing.T) {
	dir := newRelease(t)
	st := realisticState(t, release.RealisticOldVersion)
	os.WriteFile(filepath.Join(dir, CustomerEnvFile), []byte(strings.ReplaceAll(st.Package.CustomerEnv, "\n", "\r\n")), 0o600)
	p, err := NewPlan(st, dir)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(p.CustomerEnv()), "\r") {
		t.Error("the planned customer.env has CR")
	}
	if !slices.ContainsFunc(p.Report().Notices, func(n string) bool { return strings.Contains(n, "CRLF") }) {
		t.Errorf("notices %v do not mention CRLF", p.Report().Notices)
	}
	if len(p.Report().KeptEdits)+len(p.Report().Overwritten) != 0 {
		t.Errorf("line ends counted as edits: %+v", p.Report())
	}
}

// TestAdvancedSettings writes every Advanced setting into customer.env
// and certs/, warns where env.tpl overrides one, refuses a free setting
// that another step writes, and gives the keys back to the package when
// they are cleared.
func TestAdvancedSettings(t *testing.T) {
	dir, stateDir := newRelease(t), t.TempDir()
	st := realisticState(t, release.RealisticOldVersion)
	st.Advanced = wizard.AdvancedInput{
		HTTPProxy: "http://proxy:3128", HTTPSProxy: "http://proxy:3128", NoProxy: "localhost,.internal",
		ExtraCAPEM: caPEM, SkipTLSVerify: true, GoogleMapsAPIKey: "AIzaFAKE-wizard-0123456789abcdef",
		BigQueryOAuthClientID: "123-abc.apps.googleusercontent.com", BigQueryOAuthClientSecret: "GOCSPX-fake'secret",
		Extra: []wizard.AdvancedVar{{Key: "IFRAME_ALLOWED_DOMAINS", Value: "https://a.example.com https://b.example.com"}},
	}
	p := install(t, st, dir, stateDir, nil, time.Now())
	got := mustRead(t, dir, CustomerEnvFile)
	for k, v := range map[string]string{
		"HTTP_PROXY": "http://proxy:3128", "http_proxy": "http://proxy:3128", "HTTPS_PROXY": "http://proxy:3128",
		"https_proxy": "http://proxy:3128", "NO_PROXY": "localhost,.internal", "no_proxy": "localhost,.internal",
		"NODE_EXTRA_CA_CERTS": "/usr/src/certs/" + ExtraCAFile, "NODE_TLS_REJECT_UNAUTHORIZED": "0",
		"GOOGLE_MAPS_API_KEY": "AIzaFAKE-wizard-0123456789abcdef", "BIGQUERY_OAUTH2_CLIENT_ID": "123-abc.apps.googleusercontent.com",
		"BIGQUERY_OAUTH2_CLIENT_SECRET": "GOCSPX-fake'secret", "REACT_APP_BIGQUERY_OAUTH": "true",
		"IFRAME_ALLOWED_DOMAINS": "https://a.example.com https://b.example.com",
	} {
		if g := valueIn(t, got, k); g.Text != v {
			t.Errorf("%s = %q, want %q", k, g.Text, v)
		}
	}
	if g := valueIn(t, got, "GRPC_PROXY"); g.Set {
		t.Errorf("GRPC_PROXY set although empty: %+v", g)
	}
	if string(mustRead(t, dir, filepath.Join(CertsDir, ExtraCAFile))) != caPEM {
		t.Error("the CA bundle is not in certs/")
	}
	if !slices.Contains(p.Report().EnvTplOverrides, "REACT_APP_BIGQUERY_OAUTH") {
		t.Errorf("no override warning for REACT_APP_BIGQUERY_OAUTH: %v", p.Report().EnvTplOverrides)
	}
	var diff strings.Builder
	for _, l := range p.Diff() {
		diff.WriteString(l.String() + "\n")
	}
	for _, s := range st.Advanced.Secrets() {
		if strings.Contains(diff.String(), s) {
			t.Errorf("the diff shows %q", s)
		}
	}

	clash := st
	clash.Advanced.Extra = []wizard.AdvancedVar{{Key: "SELFHOSTED_DOMAIN", Value: "evil.example.com"}}
	var re *RefusedError
	if _, err := NewPlanWith(clash, dir, PlanOptions{StateDir: stateDir}); !errors.As(err, &re) || re.Results[0].Field != "advanced.extra.0.key" {
		t.Errorf("a free setting of SELFHOSTED_DOMAIN: %v", err)
	}

	cleared := st
	cleared.Advanced = wizard.AdvancedInput{}
	install(t, cleared, dir, stateDir, nil, time.Now())
	got = mustRead(t, dir, CustomerEnvFile)
	for _, k := range []string{"HTTP_PROXY", "https_proxy", "NODE_EXTRA_CA_CERTS", "GOOGLE_MAPS_API_KEY", "BIGQUERY_OAUTH2_CLIENT_SECRET", "REACT_APP_BIGQUERY_OAUTH", "IFRAME_ALLOWED_DOMAINS"} {
		if g := valueIn(t, got, k); g.Set {
			t.Errorf("%s still set after clearing the Advanced step: %+v", k, g)
		}
	}
}

// copyInstall copies a release directory and a state directory, so that
// subtests can resolve the same conflict in different ways.
func copyInstall(t *testing.T, dir, stateDir string) (string, string) {
	t.Helper()
	dir2 := filepath.Join(t.TempDir(), "carto-selfhosted")
	if err := os.CopyFS(dir2, os.DirFS(dir)); err != nil {
		t.Fatal(err)
	}
	state2 := t.TempDir()
	if err := os.CopyFS(state2, os.DirFS(stateDir)); err != nil {
		t.Fatal(err)
	}
	rec, ok, err := LoadRecord(state2)
	if err != nil || !ok {
		t.Fatal(err)
	}
	rec.ReleaseDir = dir2
	if err := saveRecord(state2, rec); err != nil {
		t.Fatal(err)
	}
	return dir2, state2
}

func mustRead(t *testing.T, dir, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, rel))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestWriteMountedKeepsAccess replaces the router's certificate outside an
// install, as the renewal does: the new file keeps the router's read
// access and becomes carto-setup's own in the record, so the next plan
// does not take it for a hand edit.
func TestWriteMountedKeepsAccess(t *testing.T) {
	dir, stateDir := newRelease(t), t.TempDir()
	st := realisticState(t, release.RealisticOldVersion)
	p, err := NewPlanWith(st, dir, PlanOptions{StateDir: stateDir})
	if err != nil {
		t.Fatal(err)
	}
	if err := ApplyWith(p, ApplyOptions{Users: map[string]fileaccess.User{"router-http": {UID: 101, GID: 101}}}); err != nil {
		t.Fatal(err)
	}
	rel := filepath.Join(CertsDir, RouterCertFile)
	if r, _ := fileaccess.Readers(filepath.Join(dir, rel)); !slices.Equal(r, []int{101}) {
		t.Fatalf("readers after the install %v", r)
	}
	renewed := "-----BEGIN CERTIFICATE-----\nMIIBrenewed\n-----END CERTIFICATE-----\n"
	if err := WriteMounted(stateDir, dir, rel, []byte(renewed)); err != nil {
		t.Fatal(err)
	}
	if r, _ := fileaccess.Readers(filepath.Join(dir, rel)); !slices.Equal(r, []int{101}) {
		t.Errorf("readers after WriteMounted %v, want [101]", r)
	}
	st.TLS.CertPEM = renewed
	p, err = NewPlanWith(st, dir, PlanOptions{StateDir: stateDir})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Report().Conflicts) != 0 {
		t.Errorf("the renewed certificate is taken for a hand edit: %+v", p.Report().Conflicts)
	}
}

// TestRestoredFilesAreNotHandEdits: an install, a second one with another
// domain, then the first one's files put back as a restore does. Once
// RecordRestored has recorded them, installing the wizard's answers again
// (the second domain) is a plain change from the restored files: no line
// is taken for a hand edit and nothing is a conflict.
func TestRestoredFilesAreNotHandEdits(t *testing.T) {
	dir, stateDir := newRelease(t), t.TempDir()
	st := realisticState(t, release.RealisticOldVersion)
	first := install(t, st, dir, stateDir, nil, time.Now())
	kept := map[string][]byte{}
	for _, f := range first.Files() {
		if fi, err := os.Stat(filepath.Join(dir, f.Path)); err != nil || fi.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, f.Path))
		if err != nil {
			t.Fatal(err)
		}
		kept[filepath.ToSlash(f.Path)] = b
	}
	if len(kept) < 3 {
		t.Fatalf("the first install wrote only %v", slices.Collect(maps.Keys(kept)))
	}
	moved := st
	moved.Domain.Domain = "carto.moved.example.com"
	install(t, moved, dir, stateDir, nil, time.Now())

	// The restore: the first install's files, byte for byte.
	for rel, b := range kept {
		if err := os.WriteFile(filepath.Join(dir, filepath.FromSlash(rel)), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := RecordRestored(stateDir, dir, kept, nil); err != nil {
		t.Fatal(err)
	}
	p, err := NewPlanWith(moved, dir, PlanOptions{StateDir: stateDir})
	if err != nil {
		t.Fatal(err)
	}
	rep := p.Report()
	if len(rep.KeptEdits) != 0 || len(rep.Conflicts) != 0 {
		t.Errorf("restored lines taken for hand edits: kept %v, conflicts %+v", keysOf(rep.KeptEdits), rep.Conflicts)
	}
	for _, f := range rep.Files {
		if f.HandEdited {
			t.Errorf("%s is taken for a hand edit after the restore", f.Path)
		}
	}
	if got := valueIn(t, p.CustomerEnv(), "SELFHOSTED_DOMAIN").Text; got != moved.Domain.Domain {
		t.Errorf("the plan sets SELFHOSTED_DOMAIN=%q, want the wizard's %q", got, moved.Domain.Domain)
	}
}
