package deploy

import (
	"context"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/carto-setup/carto-setup/internal/atomicfile"
	"github.com/carto-setup/carto-setup/internal/demo/release"
	"github.com/carto-setup/carto-setup/internal/engine"
	"github.com/carto-setup/carto-setup/internal/fileaccess"
)

// routerUsers says the router images run as uid 101 and every other image
// as 1000, as the stand-in's and CARTO's do; an image named "absent" is
// not on the host.
type routerUsers struct{}

func (routerUsers) ImageUser(_ context.Context, ref string) (engine.ImageUser, bool, error) {
	if strings.Contains(ref, "absent") {
		return engine.ImageUser{}, false, nil
	}
	if strings.Contains(ref, "router") {
		return engine.ImageUser{UID: 101, GID: 101}, true, nil
	}
	return engine.ImageUser{UID: 1000, GID: 1000}, true, nil
}

// readersOf returns the ACL readers of every placed file and of certs/.
func readersOf(t *testing.T, dir string) map[string][]int {
	t.Helper()
	rels, err := placedFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]int{}
	for _, rel := range append(rels, CertsDir) {
		r, err := fileaccess.Readers(filepath.Join(dir, rel))
		if err != nil {
			t.Fatal(err)
		}
		out[rel] = r
	}
	return out
}

// TestGrantAccessAfterRestore installs with the services' users, rewrites
// every placed file owner-only as a restore does (the ACLs go), and checks
// that GrantAccess gives back exactly the access the install gave.
func TestGrantAccessAfterRestore(t *testing.T) {
	t.Parallel()
	dir := newRelease(t)
	st := realisticState(t, release.RealisticOldVersion)
	p, err := NewPlanWith(st, dir, PlanOptions{StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	users, err := ServiceUsers(context.Background(), routerUsers{}, p, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := ApplyWith(p, ApplyOptions{Users: users}); err != nil {
		t.Fatal(err)
	}
	installed := readersOf(t, dir)
	if !slices.Equal(installed[filepath.Join(CertsDir, RouterKeyFile)], []int{101}) || len(installed[filepath.Join(CertsDir, ServiceKeyFile)]) == 0 {
		t.Fatalf("the install gave no access to test against: %v", installed)
	}

	for rel := range installed {
		path := filepath.Join(dir, rel)
		if fi, _ := os.Stat(path); fi.IsDir() {
			continue
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := atomicfile.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if r := readersOf(t, dir); len(r[filepath.Join(CertsDir, RouterKeyFile)]) != 0 {
		t.Fatalf("rewriting kept the ACL: %v", r)
	}

	var logged []string
	granted, err := GrantAccess(context.Background(), routerUsers{}, dir, func(f string, a ...any) { logged = append(logged, f) })
	if err != nil {
		t.Fatal(err)
	}
	if got := readersOf(t, dir); !maps.EqualFunc(got, installed, slices.Equal) {
		t.Errorf("after GrantAccess:\n%v\nafter the install:\n%v", got, installed)
	}
	if len(granted[filepath.Join(CertsDir, RouterCertFile)]) != 1 || len(logged) != 0 {
		t.Errorf("granted %v, logged %v", granted, logged)
	}
	for _, rel := range []string{CustomerEnvFile, DotEnvFile} {
		if fi, _ := os.Stat(filepath.Join(dir, rel)); fi.Mode().Perm() != FilePerm {
			t.Errorf("%s has mode %v", rel, fi.Mode().Perm())
		}
	}

	// An image that is not on the host: its service's files stay
	// owner-only, and that is said.
	dotEnv := filepath.Join(dir, DotEnvFile)
	b, _ := os.ReadFile(dotEnv)
	f, err := os.OpenFile(dotEnv, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("ROUTER_HTTP_DOCKER_IMAGE=absent:1\n")
	f.Close()
	t.Cleanup(func() { os.WriteFile(dotEnv, b, 0o600) })
	logged = nil
	if _, err := GrantAccess(context.Background(), routerUsers{}, dir, func(f string, a ...any) { logged = append(logged, f) }); err != nil {
		t.Fatal(err)
	}
	if r, _ := fileaccess.Readers(filepath.Join(dir, CertsDir, RouterKeyFile)); len(r) != 0 || len(logged) == 0 {
		t.Errorf("the router's key with its image absent: readers %v, logged %v", r, logged)
	}
}
