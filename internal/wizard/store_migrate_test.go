package wizard_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/carto-setup/carto-setup/internal/demo/release"
	"github.com/carto-setup/carto-setup/internal/deploy"
	"github.com/carto-setup/carto-setup/internal/wizard"
	"github.com/carto-setup/carto-setup/migrations"
)

// previousState is a state.json exactly as the carto-setup of schema 1
// wrote it: `apply` of a walk with a real PostgreSQL, reasons for the
// checks this machine fails, and an install that failed (no registry), so
// every step up to the review is done and the install is next. Never
// regenerate it: it stands for files already on admins' disks.
const previousState = "testdata/state-schema1.json"

func TestSchemaVersionIsTheLatestMigration(t *testing.T) {
	if wizard.SchemaVersion != migrations.Latest() {
		t.Fatalf("wizard.SchemaVersion is %d, the migrations reach %d: add migrations/state/%04d-*.json with its test states",
			wizard.SchemaVersion, migrations.Latest(), wizard.SchemaVersion)
	}
}

func copyState(t *testing.T, from string) string {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "state.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func decode(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestPreviousStateLoadsMigratesAndResumes loads the fixture through the
// store, as a new carto-setup starts on an old state directory: the
// answers are there, the wizard resumes at the install, the install plan
// is computed from them, and the first save writes the current schema
// keeping every value (the migrated file, apart from the save's revision
// and time).
func TestPreviousStateLoadsMigratesAndResumes(t *testing.T) {
	path := copyState(t, previousState)
	original, _ := os.ReadFile(path)
	store := wizard.NewFileStore(path, time.Now)
	st, err := store.Load()
	if err != nil {
		t.Fatal(err)
	}
	if st.Domain.Domain != "carto.fixture.test" || st.Database.Mode != wizard.ModeExternal || st.TLS.Mode != wizard.TLSSelfSigned ||
		st.Package.Summary.Tenant != release.SampleTenantID || len(st.Overrides) != 18 || len(st.Checks[wizard.Preflight].Results) == 0 {
		t.Fatalf("loaded state lacks the answers: domain %q db %q tls %q tenant %q overrides %d",
			st.Domain.Domain, st.Database.Mode, st.TLS.Mode, st.Package.Summary.Tenant, len(st.Overrides))
	}
	if next := wizard.FirstIncomplete(st); next != wizard.Install {
		t.Errorf("resumes at %s, want install", next)
	}
	if b, _ := os.ReadFile(path); !bytes.Equal(b, original) {
		t.Error("loading rewrote the state file")
	}

	// The install resumes from these answers.
	dir := t.TempDir()
	if err := release.Write(dir, release.NewerVersion); err != nil {
		t.Fatal(err)
	}
	plan, err := deploy.NewPlan(st, dir)
	if err != nil {
		t.Fatalf("the install cannot be planned from the previous state: %v", err)
	}
	if plan.Version() != release.NewerVersion || len(plan.Files()) == 0 {
		t.Errorf("plan %s with %d files", plan.Version(), len(plan.Files()))
	}

	saved, err := store.Update(func(s *wizard.State) error { s.MarkDone(wizard.Install); return nil })
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	got := decode(t, b)
	if got["schema"] != float64(wizard.SchemaVersion) || saved.Revision != st.Revision+1 {
		t.Errorf("saved schema %v revision %d", got["schema"], saved.Revision)
	}
	migrated, _, err := migrations.Apply(original)
	if err != nil {
		t.Fatal(err)
	}
	want := decode(t, migrated)
	want["done"].(map[string]any)["install"] = true
	for _, k := range []string{"revision", "updated_at"} {
		delete(want, k)
		delete(got, k)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("the first save lost or changed values (-migrated +saved):\n%s", diff)
	}
	again, err := wizard.NewFileStore(path, time.Now).Load()
	if err != nil || !again.Done[wizard.Install] || again.Domain != st.Domain {
		t.Errorf("reload: %v", err)
	}
}

// TestNewerStateRefusedUntouched: a state written by a newer carto-setup
// is refused by Load and Update, with a message that says what to do, and
// the file keeps every byte.
func TestNewerStateRefusedUntouched(t *testing.T) {
	b, err := os.ReadFile(previousState)
	if err != nil {
		t.Fatal(err)
	}
	newer := bytes.Replace(b, []byte(`"schema": 1,`), []byte(fmt.Sprintf(`"schema": %d,`, migrations.Latest()+1)), 1)
	if bytes.Equal(newer, b) {
		t.Fatal("the fixture has no schema line to change")
	}
	path := filepath.Join(t.TempDir(), "state.json")
	os.WriteFile(path, newer, 0o600)
	store := wizard.NewFileStore(path, time.Now)
	if _, err := store.Load(); err == nil || !strings.Contains(err.Error(), "use a newer carto-setup") {
		t.Errorf("Load: %v", err)
	}
	if _, err := store.Update(func(s *wizard.State) error { s.Domain.Domain = "x"; return nil }); err == nil {
		t.Error("Update of a newer state succeeded")
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(after, newer) {
		t.Error("the newer state file was changed")
	}
	if matches, _ := filepath.Glob(path + "*"); len(matches) != 1 {
		t.Errorf("files beside the state: %v", matches)
	}
}

// TestStateWithSchemaZero: the store of schema 1 saved a State its caller
// replaced whole with "schema": 0, and read it back; so does this one.
func TestStateWithSchemaZero(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	os.WriteFile(path, []byte(`{"schema": 0, "domain": {"domain": "zero.example.com"}, "done": {"preflight": true}}`), 0o600)
	st, err := wizard.NewFileStore(path, time.Now).Load()
	if err != nil || st.Domain.Domain != "zero.example.com" || !st.Done[wizard.Preflight] || st.Schema != wizard.SchemaVersion {
		t.Errorf("Load: %+v %v", st, err)
	}
}

// TestUpdateWritesTheSchema: a caller that replaces the state whole (apply
// does, with a state built in memory) still saves this carto-setup's
// schema, never 0.
func TestUpdateWritesTheSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	store := wizard.NewFileStore(path, time.Now)
	if _, err := store.Update(func(s *wizard.State) error {
		*s = wizard.State{Domain: wizard.DomainInput{Domain: "whole.example.com"}}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := decode(t, b)["schema"]; got != float64(wizard.SchemaVersion) {
		t.Errorf("saved schema %v, want %d", got, wizard.SchemaVersion)
	}
}
