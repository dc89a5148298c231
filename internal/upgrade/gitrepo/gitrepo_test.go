package gitrepo

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/carto-setup/carto-setup/internal/demo/release"
	"github.com/carto-setup/carto-setup/internal/testenv"
)

func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-C", dir, "-c", "user.name=t", "-c", "user.email=t@example.invalid"}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// standinRepo writes the stand-in release as a git checkout at the older
// tag, adds an annotated release candidate and a tag that is no release,
// and puts the admin's customer.env beside it.
func standinRepo(t *testing.T) (*Repo, string, []string) {
	t.Helper()
	testenv.LookPath(t, "git", "apt-get install git")
	dir := filepath.Join(t.TempDir(), "carto-selfhosted")
	tags, err := release.WriteRepo(dir)
	if err != nil {
		t.Fatal(err)
	}
	git(t, dir, "tag", "-a", "-m", "release candidate", "2026.8.11-rc.1", tags[0])
	git(t, dir, "tag", "not-a-release", tags[1])
	if err := os.WriteFile(filepath.Join(dir, "customer.env"), []byte("A=1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := Open(context.Background(), dir)
	if err != nil {
		t.Fatalf("Open(checkout): %v", err)
	}
	return r, dir, tags
}

func names(tags []Tag) []string {
	var out []string
	for _, t := range tags {
		out = append(out, t.Name)
	}
	return out
}

func TestOpen(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, dir, _ := standinRepo(t)
	sub := filepath.Join(dir, "sub")
	os.Mkdir(sub, 0o755)
	for name, d := range map[string]string{"plain directory": t.TempDir(), "directory inside a checkout": sub} {
		if _, err := Open(ctx, d); !errors.Is(err, ErrNotRepo) {
			t.Errorf("%s: err %v, want ErrNotRepo", name, err)
		}
	}
}

func TestTags(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r, dir, tags := standinRepo(t)
	all, err := r.ReleaseTags(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{tags[0], "2026.8.11-rc.1", tags[1]}; !slices.Equal(names(all), want) {
		t.Fatalf("release tags %v, want %v", names(all), want)
	}
	olderCommit := git(t, dir, "rev-parse", tags[0]+"^{commit}")
	if all[1].Commit != olderCommit || !all[1].Prerelease || all[0].Prerelease {
		t.Errorf("the annotated candidate: %+v, want commit %s and prerelease", all[1], olderCommit)
	}
	if all[2].Commit != git(t, dir, "rev-parse", tags[1]+"^{commit}") {
		t.Errorf("newer tag commit %s", all[2].Commit)
	}
	newer, err := r.TagsNewerThan(ctx, tags[0])
	if err != nil || !slices.Equal(names(newer), []string{"2026.8.11-rc.1", tags[1]}) {
		t.Errorf("newer than %s: %v %v", tags[0], names(newer), err)
	}
	if newer, _ := r.TagsNewerThan(ctx, "2026.8.11-rc.1"); !slices.Equal(names(newer), []string{tags[1]}) {
		t.Errorf("newer than the candidate: %v", names(newer))
	}
	if newer, _ := r.TagsNewerThan(ctx, tags[1]); len(newer) != 0 {
		t.Errorf("newer than the newest: %v", names(newer))
	}
	head, err := r.Head(ctx)
	if err != nil || head != olderCommit {
		t.Errorf("head %s %v, want %s", head, err, olderCommit)
	}
	if at, _ := tagsAtHead(ctx, r); !slices.Equal(at, []string{tags[0], "2026.8.11-rc.1"}) {
		t.Errorf("tags at head %v", at)
	}
	b, err := r.Show(ctx, tags[1], "VERSION")
	if err != nil || string(b) != tags[1]+"\n" {
		t.Errorf("Show(%s, VERSION) = %q %v", tags[1], b, err)
	}
	if _, err := r.Show(ctx, "--output=/tmp/x", "VERSION"); err == nil {
		t.Error("Show accepted an option as a ref")
	}
}

// TestCheckout moves the checkout as CARTO's upgrade instructions do:
// refused while a tracked file is modified (nothing moves), then done, the
// git-ignored customer.env untouched, and any name that is not a release
// tag refused.
func TestCheckout(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r, dir, tags := standinRepo(t)
	if m, err := r.Modified(ctx); err != nil || len(m) != 0 {
		t.Fatalf("modified on a fresh checkout: %v %v", m, err)
	}
	compose := filepath.Join(dir, "docker-compose.yml")
	orig, _ := os.ReadFile(compose)
	os.WriteFile(compose, append(orig, "# edited by hand\n"...), 0o644)
	git(t, dir, "mv", "install.sh", "install2.sh")
	m, err := r.Modified(ctx)
	if err != nil || !slices.Equal(m, []string{"docker-compose.yml", "install2.sh"}) {
		t.Fatalf("modified %q %v", m, err)
	}
	head, _ := r.Head(ctx)
	err = r.Checkout(ctx, tags[1])
	var dirty *DirtyError
	if !errors.As(err, &dirty) || !slices.Equal(dirty.Files, m) || !strings.Contains(err.Error(), "docker-compose.yml") {
		t.Fatalf("checkout with modified files: %v", err)
	}
	if now, _ := r.Head(ctx); now != head {
		t.Error("a refused checkout moved HEAD")
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "VERSION")); string(b) != tags[0]+"\n" {
		t.Errorf("a refused checkout changed VERSION: %q", b)
	}
	git(t, dir, "mv", "install2.sh", "install.sh")
	git(t, dir, "checkout", "--", "docker-compose.yml")

	if err := r.Checkout(ctx, tags[1]); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "VERSION")); string(b) != tags[1]+"\n" {
		t.Errorf("VERSION after checkout: %q", b)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "customer.env")); string(b) != "A=1\n" {
		t.Errorf("customer.env changed: %q", b)
	}
	if at, _ := tagsAtHead(ctx, r); !slices.Equal(at, []string{tags[1]}) {
		t.Errorf("tags at head after checkout: %v", at)
	}
	for _, bad := range []string{"not-a-release", "master", "--orphan=x", "2027.1.1", "HEAD~1"} {
		if err := r.Checkout(ctx, bad); err == nil {
			t.Errorf("Checkout(%q) succeeded", bad)
		}
	}
	if at, _ := tagsAtHead(ctx, r); !slices.Equal(at, []string{tags[1]}) {
		t.Errorf("a refused checkout moved HEAD: %v", at)
	}
}

// tagsAtHead returns the release tags that point at the checked-out commit.
func tagsAtHead(ctx context.Context, r *Repo) ([]string, error) {
	head, err := r.Head(ctx)
	if err != nil {
		return nil, err
	}
	tags, err := r.ReleaseTags(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, t := range tags {
		if t.Commit == head {
			out = append(out, t.Name)
		}
	}
	return out, nil
}
