package pgbin

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/carto-setup/carto-setup/internal/testenv"
)

// fakeBin makes dir/<name> for each name, executable unless the name ends
// in "-noexec".
func fakeBin(t *testing.T, dir string, names ...string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if err := os.WriteFile(filepath.Join(dir, n), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

func TestFind(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	noPath := func(string) (string, error) { return "", errors.New("not on PATH") }
	fakeBin(t, filepath.Join(root, "13", "bin"), "postgres", "initdb")
	fakeBin(t, filepath.Join(root, "16", "bin"), "postgres") // no initdb: not a server install
	fakeBin(t, filepath.Join(root, "15", "bin"), "postgres", "initdb")
	got, err := find(filepath.Join(root, "*", "bin"), noPath)
	if err != nil || got != filepath.Join(root, "15", "bin") {
		t.Errorf("find = %q, %v; want the newest complete one, 15", got, err)
	}

	onPath := filepath.Join(root, "path")
	fakeBin(t, onPath, "postgres", "initdb")
	got, err = find(filepath.Join(root, "none", "*", "bin"), func(string) (string, error) { return filepath.Join(onPath, "postgres"), nil })
	if err != nil || got != onPath {
		t.Errorf("find on PATH = %q, %v; want %q", got, err, onPath)
	}
	if _, err := find(filepath.Join(root, "none", "*", "bin"), noPath); !errors.Is(err, ErrNotFound) {
		t.Errorf("find with nothing installed: %v, want ErrNotFound", err)
	}
}

func TestMajor(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]int{"/usr/lib/postgresql/15/bin": 15, "/usr/bin": 0} {
		if got := Major(in); got != want {
			t.Errorf("Major(%q) = %d, want %d", in, got, want)
		}
	}
}

// TestSystemUser runs against this machine's user database: as root it
// must name the postgres user (whose uid is not 0), otherwise nil.
func TestSystemUser(t *testing.T) {
	t.Parallel()
	cred, err := SystemUser()
	switch {
	case os.Geteuid() != 0:
		if cred != nil || err != nil {
			t.Errorf("not root: SystemUser = %+v, %v; want nil, nil", cred, err)
		}
	case errors.Is(err, ErrNoSystemUser):
		testenv.Missing(t, "the postgres system user", InstallHint)
	case err != nil:
		t.Fatal(err)
	case cred.Uid == 0:
		t.Errorf("the postgres credential is root's: %+v", cred)
	}
	if _, err := lookupCredential("no-such-user-carto-setup"); !errors.Is(err, ErrNoSystemUser) {
		t.Errorf("unknown user: %v, want ErrNoSystemUser", err)
	}
}
