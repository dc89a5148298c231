package k8sexport

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func exportFor(t *testing.T, opts Options) Result {
	t.Helper()
	res, err := Export(baseState(t), Advanced{GoogleMapsAPIKey: "maps-key-secret-9"}, opts)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func mode(t *testing.T, path string) fs.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

func TestWriteHelmModes(t *testing.T) {
	t.Parallel()
	for _, refs := range []bool{false, true} {
		res := exportFor(t, Options{SecretRefs: refs})
		dir := filepath.Join(t.TempDir(), "export")
		if err := res.WriteHelm(dir, WriteOptions{}); err != nil {
			t.Fatal(err)
		}
		want := map[string]fs.FileMode{
			dir:                             modeDir,
			filepath.Join(dir, ValuesFile):  modeShared,
			filepath.Join(dir, SecretsFile): modeSecret,
			filepath.Join(dir, ReportFile):  modeShared,
		}
		for name := range res.SecretFiles {
			want[filepath.Join(dir, name)] = modeSecret
		}
		if refs {
			if len(res.SecretFiles) == 0 {
				t.Fatal("SecretRefs export has no secret files")
			}
			want[filepath.Join(dir, secretsDir)] = modeDir
		}
		for path, m := range want {
			if got := mode(t, path); got != m {
				t.Errorf("refs=%v: %s mode %o, want %o", refs, path, got, m)
			}
		}
		got, err := os.ReadFile(filepath.Join(dir, SecretsFile))
		if err != nil || string(got) != string(res.Secrets) {
			t.Errorf("secrets file not written as exported: %v", err)
		}
	}
}

// TestWriteHelmRefusesOverwrite: a file that would change stops the write
// before anything is written; the same content is no change; Overwrite
// keeps the old file as an owner-only backup.
func TestWriteHelmRefusesOverwrite(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	res := exportFor(t, Options{})
	if err := res.WriteHelm(dir, WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	// The same export again changes nothing and needs no permission.
	if err := res.WriteHelm(dir, WriteOptions{}); err != nil {
		t.Fatalf("re-exporting the same answers: %v", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 3 {
		t.Fatalf("%d entries after two identical exports, want 3", len(entries))
	}

	// Another export over it: refused, and neither file replaced, even the
	// one that comes first and would have been written first.
	st := baseState(t)
	st.Database.WorkspacePassword = "a-new-password-1"
	st.Domain.Domain = "other.example.com"
	changed, err := Export(st, Advanced{GoogleMapsAPIKey: "maps-key-secret-9"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	err = changed.WriteHelm(dir, WriteOptions{})
	if !errors.Is(err, ErrExists) {
		t.Fatalf("err = %v, want ErrExists", err)
	}
	for _, name := range []string{ValuesFile, SecretsFile, ReportFile} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error does not name %s: %v", name, err)
		}
	}
	if got, _ := os.ReadFile(filepath.Join(dir, ValuesFile)); string(got) != string(res.Values) {
		t.Error("a refused write changed customizations.yaml")
	}

	now := func() time.Time { return time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC) }
	if err := changed.WriteHelm(dir, WriteOptions{Overwrite: true, Now: now}); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, SecretsFile)); string(got) != string(changed.Secrets) {
		t.Error("overwrite did not write the new secrets file")
	}
	backup := filepath.Join(dir, SecretsFile+".bak-20260501T120000Z")
	if got, err := os.ReadFile(backup); err != nil || string(got) != string(res.Secrets) {
		t.Fatalf("backup of the secrets file: %v", err)
	}
	if m := mode(t, backup); m != modeSecret {
		t.Errorf("backup of the secrets file has mode %o", m)
	}
	if m := mode(t, filepath.Join(dir, ValuesFile+".bak-20260501T120000Z")); m&0o077 != 0 {
		t.Errorf("backups are not owner-only: %o", m)
	}
}

func TestWriteRefusesNonRegularFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	target := filepath.Join(t.TempDir(), "elsewhere")
	if err := os.Symlink(target, filepath.Join(dir, SecretsFile)); err != nil {
		t.Fatal(err)
	}
	err := exportFor(t, Options{}).WriteHelm(dir, WriteOptions{Overwrite: true})
	if err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("err = %v, want a refusal of the symlink", err)
	}
	if _, err := os.Stat(filepath.Join(dir, ValuesFile)); !errors.Is(err, fs.ErrNotExist) {
		t.Error("files were written before the refusal")
	}
	if _, err := os.Stat(target); !errors.Is(err, fs.ErrNotExist) {
		t.Error("the write followed the symlink")
	}
}

func TestWriteKOTS(t *testing.T) {
	t.Parallel()
	res := exportFor(t, Options{})
	file := filepath.Join(t.TempDir(), "config-values.yaml")
	if err := res.WriteKOTS(file, WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	if m := mode(t, file); m != modeSecret {
		t.Errorf("ConfigValues mode %o, want %o", m, modeSecret)
	}
	if err := os.WriteFile(file, []byte("edited by hand\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := res.WriteKOTS(file, WriteOptions{}); !errors.Is(err, ErrExists) {
		t.Fatalf("err = %v, want ErrExists", err)
	}
	if got, _ := os.ReadFile(file); string(got) != "edited by hand\n" {
		t.Error("a refused write replaced the file")
	}
}
