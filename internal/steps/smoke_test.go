package steps

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/carto-setup/carto-setup/internal/wizard"
)

func TestEnvPort(t *testing.T) {
	env := map[string]string{"A": "8080", "B": "x", "C": "70000"}
	for key, want := range map[string]int{"A": 8080, "B": 443, "C": 443, "D": 443} {
		if got := envPort(env, key, 443); got != want {
			t.Errorf("%s: %d, want %d", key, got, want)
		}
	}
}

func TestChecklistAndBundleWithoutDocker(t *testing.T) {
	dir := t.TempDir()
	store := wizard.NewFileStore(filepath.Join(dir, "state.json"), time.Now)
	if _, err := store.Update(func(st *wizard.State) error {
		st.Database.AdminPassword = "Adm1n-Secret-Pass"
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, ".env"), []byte("POSTGRES_ADMIN_PASSWORD=Adm1n-Secret-Pass\n"), 0o600)
	s := NewSmoker(SmokeConfig{Steps: New(Deps{}, store), ReleaseDir: dir, StateDir: dir, Project: "none-such-project"})
	if ticks, err := s.Checklist(); err != nil || len(ticks) != 0 {
		t.Fatalf("empty checklist: %v %v", ticks, err)
	}
	if err := s.SaveChecklist(map[string]bool{"signin": true}); err != nil {
		t.Fatal(err)
	}
	if ticks, err := s.Checklist(); err != nil || !ticks["signin"] {
		t.Fatalf("saved checklist: %v %v", ticks, err)
	}
	b, err := s.Build(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := b.WriteTarGz(&buf); err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, e := range b.Entries() {
		names[e.Name] = true
	}
	for _, want := range []string{"wizard-state.json", "release/.env", "checks.json"} {
		if !names[want] {
			t.Errorf("bundle lacks %s: %v", want, names)
		}
	}
	for _, r := range b.Redactions() {
		if r.File == "release/.env" && r.What == "database admin password" && r.Count == 1 {
			return
		}
	}
	t.Errorf("the password in .env is not reported masked: %v", b.Redactions())
}
