package gitrepo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"github.com/carto-setup/carto-setup/internal/upgrade"
)

// ErrNotRepo is returned by Open when the directory is not the top of a git
// working tree (a release unpacked from an archive, for example).
var ErrNotRepo = errors.New("gitrepo: not a git checkout")

// ErrNoGit is returned by Open when the git binary is not installed.
var ErrNoGit = errors.New("gitrepo: git is not installed")

// DirtyError is returned by Checkout when tracked files differ from the
// checked-out commit: a checkout would mix them into the new release or
// refuse half-way.
type DirtyError struct {
	Files []string
}

func (e *DirtyError) Error() string {
	return "gitrepo: tracked files are modified (" + strings.Join(e.Files, ", ") + "): commit, stash or undo them before changing the release"
}

// Repo is a git working tree whose top directory is a release checkout.
type Repo struct {
	dir string
	git string
}

// Tag is a release tag and the commit it points at.
type Tag struct {
	Name       string `json:"name"`
	Commit     string `json:"commit"`
	Prerelease bool   `json:"prerelease"`
}

// Open returns the repository whose working tree's top is dir.
func Open(ctx context.Context, dir string) (*Repo, error) {
	git, err := exec.LookPath("git")
	if err != nil {
		return nil, ErrNoGit
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("gitrepo: open %s: %w", dir, err)
	}
	r := &Repo{dir: abs, git: git}
	top, err := r.run(ctx, "rev-parse", "--show-toplevel")
	if err != nil {
		return nil, ErrNotRepo
	}
	// A release directory inside some other repository is not a checkout
	// of carto-selfhosted.
	if !sameDir(strings.TrimSpace(top), abs) {
		return nil, ErrNotRepo
	}
	return r, nil
}

func sameDir(a, b string) bool {
	ai, err1 := os.Stat(a)
	bi, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(ai, bi)
}

// Head returns the commit checked out.
func (r *Repo) Head(ctx context.Context) (string, error) {
	out, err := r.run(ctx, "rev-parse", "--verify", "HEAD^{commit}")
	if err != nil {
		return "", fmt.Errorf("gitrepo: head: %w", err)
	}
	return strings.TrimSpace(out), nil
}

// ReleaseTags returns the release tags git has, oldest first by
// upgrade.CompareReleases. Tags that are not release tags are left out.
func (r *Repo) ReleaseTags(ctx context.Context) ([]Tag, error) {
	// %(*objectname) is the commit of an annotated tag, empty for a
	// lightweight one, whose %(objectname) is the commit.
	out, err := r.run(ctx, "for-each-ref", "--format=%(refname:strip=2)%00%(objectname)%00%(*objectname)", "refs/tags")
	if err != nil {
		return nil, fmt.Errorf("gitrepo: list tags: %w", err)
	}
	var tags []Tag
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Split(line, "\x00")
		if len(f) != 3 || !upgrade.IsReleaseTag(f[0]) {
			continue
		}
		commit := f[1]
		if f[2] != "" {
			commit = f[2]
		}
		tags = append(tags, Tag{Name: f[0], Commit: commit, Prerelease: upgrade.Prerelease(f[0])})
	}
	slices.SortFunc(tags, func(a, b Tag) int { return upgrade.CompareReleases(a.Name, b.Name) })
	return tags, nil
}

// TagsNewerThan returns the release tags newer than installed that git
// already has, oldest first. It does not fetch: an admin runs `git fetch
// --tags` (with their own credentials and proxy) to see new releases.
func (r *Repo) TagsNewerThan(ctx context.Context, installed string) ([]Tag, error) {
	tags, err := r.ReleaseTags(ctx)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(tags, func(t Tag) bool { return upgrade.CompareReleases(t.Name, installed) <= 0 }), nil
}

// Modified returns the tracked files that differ from the checked-out
// commit, staged or not. Untracked and ignored files (customer.env, .env,
// key.json, certs/ in CARTO's .gitignore) are not reported.
func (r *Repo) Modified(ctx context.Context) ([]string, error) {
	out, err := r.run(ctx, "status", "--porcelain=v1", "-z", "--untracked-files=no", "--ignored=no")
	if err != nil {
		return nil, fmt.Errorf("gitrepo: status: %w", err)
	}
	var files []string
	entries := strings.Split(out, "\x00")
	for i := 0; i < len(entries); i++ {
		e := entries[i]
		if len(e) < 4 {
			continue
		}
		files = append(files, e[3:])
		if e[0] == 'R' || e[0] == 'C' {
			i++ // a rename or copy is followed by its source path
		}
	}
	return files, nil
}

// Checkout checks out the release tag, as `git checkout tags/<tag>` in
// CARTO's upgrade instructions does (HEAD is then detached at the tag). It
// refuses a name that is not a release tag git has, and returns a
// *DirtyError without changing anything when tracked files are modified.
// Git itself refuses, and changes nothing, when an untracked file would be
// overwritten.
func (r *Repo) Checkout(ctx context.Context, tag string) error {
	tags, err := r.ReleaseTags(ctx)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(tags, func(t Tag) bool { return t.Name == tag })
	if i < 0 {
		return fmt.Errorf("gitrepo: checkout: %q is not a release tag of this checkout (git fetch --tags fetches new ones)", tag)
	}
	dirty, err := r.Modified(ctx)
	if err != nil {
		return err
	}
	if len(dirty) > 0 {
		return &DirtyError{Files: dirty}
	}
	if _, err := r.run(ctx, "-c", "advice.detachedHead=false", "checkout", "--quiet", "tags/"+tag); err != nil {
		return fmt.Errorf("gitrepo: checkout %s: %w", tag, err)
	}
	head, err := r.Head(ctx)
	if err != nil {
		return err
	}
	if head != tags[i].Commit {
		return fmt.Errorf("gitrepo: checkout %s: HEAD is %s, want %s", tag, head, tags[i].Commit)
	}
	return nil
}

// Show returns the content of path at ref (a tag or commit), for example
// the installed release's env.tpl after the checkout moved on.
func (r *Repo) Show(ctx context.Context, ref, path string) ([]byte, error) {
	if strings.HasPrefix(ref, "-") || strings.ContainsAny(ref, ": \n") {
		return nil, fmt.Errorf("gitrepo: show: bad ref %q", ref)
	}
	out, err := r.run(ctx, "show", ref+":"+filepath.ToSlash(path))
	if err != nil {
		return nil, fmt.Errorf("gitrepo: show %s:%s: %w", ref, path, err)
	}
	return []byte(out), nil
}

// run runs git in the checkout with a stable, non-interactive environment
// and returns its standard output; a failure carries git's standard error.
func (r *Repo) run(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, r.git, append([]string{"-C", r.dir}, args...)...)
	cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0", "LC_ALL=C", "GIT_OPTIONAL_LOCKS=0")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			return "", err
		}
		return "", fmt.Errorf("%w: %s", err, msg)
	}
	return stdout.String(), nil
}
