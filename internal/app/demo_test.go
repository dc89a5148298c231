package app

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/carto-setup/carto-setup/internal/config"
	"github.com/carto-setup/carto-setup/internal/demo/release"
	"github.com/carto-setup/carto-setup/internal/testenv"
)

// TestPrepareDemo: --demo writes the stand-in release as a git repository
// with both release tags, checked out at the older, offers the older
// sample package and keeps the newer one for the upgrade; a second start
// keeps the admin's checkout.
func TestPrepareDemo(t *testing.T) {
	t.Parallel()
	testenv.LookPath(t, "git", "apt-get install git")
	cfg := config.Config{Dir: t.TempDir(), StateDir: filepath.Join(t.TempDir(), "state")}
	var out bytes.Buffer
	if err := prepareDemo(&cfg, &out); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(cfg.StateDir, "demo-release")
	if cfg.Dir != dir {
		t.Errorf("the wizard points at %s, want %s", cfg.Dir, dir)
	}
	git := func(args ...string) string {
		t.Helper()
		b, err := exec.Command("git", append([]string{"-C", dir}, args...)...).Output()
		if err != nil {
			t.Fatalf("git %v: %v", args, err)
		}
		return strings.TrimSpace(string(b))
	}
	if tags := git("tag", "--list"); tags != release.OlderVersion+"\n"+release.NewerVersion {
		t.Errorf("tags %q", tags)
	}
	if at := git("tag", "--points-at", "HEAD"); at != release.OlderVersion {
		t.Errorf("HEAD is at %q, want %s", at, release.OlderVersion)
	}
	pkg := filepath.Join(cfg.StateDir, "demo-package")
	for d, want := range map[string]string{pkg: release.OlderPackageVersion, filepath.Join(pkg, release.NewerVersion): release.SamplePackageVersion} {
		b, err := os.ReadFile(filepath.Join(d, "customer.env"))
		if err != nil || !strings.Contains(string(b), "CARTO_SELFHOSTED_CUSTOMER_PACKAGE_VERSION="+want+"\n") {
			t.Errorf("%s/customer.env: %v", d, err)
		}
		if _, err := os.Stat(filepath.Join(d, "key.json")); err != nil {
			t.Error(err)
		}
	}
	if !strings.Contains(out.String(), "git -C "+dir+" checkout tags/"+release.NewerVersion) {
		t.Errorf("the console does not say how to upgrade:\n%s", &out)
	}

	// The admin moved to the newer tag; the next start leaves it there.
	git("-c", "advice.detachedHead=false", "checkout", "--quiet", "tags/"+release.NewerVersion)
	if err := prepareDemo(&cfg, &out); err != nil {
		t.Fatal(err)
	}
	if at := git("tag", "--points-at", "HEAD"); at != release.NewerVersion {
		t.Errorf("a second start moved the checkout to %q", at)
	}
}
