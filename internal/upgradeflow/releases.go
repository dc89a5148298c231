package upgradeflow

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/carto-setup/carto-setup/internal/deploy"
	"github.com/carto-setup/carto-setup/internal/envfile"
	"github.com/carto-setup/carto-setup/internal/history"
	"github.com/carto-setup/carto-setup/internal/upgrade"
	"github.com/carto-setup/carto-setup/internal/upgrade/gitrepo"
)

// Releases is which release the checkout holds and which one is installed.
type Releases struct {
	// CheckedOut is the release directory's VERSION ("" when unreadable).
	CheckedOut string `json:"checked_out"`
	// Installed is the release of the newest history entry that
	// succeeded, or, for an install made before carto-setup kept a
	// history, CARTO_SELFHOSTED_VERSION of the .env on disk; "" when
	// nothing is installed.
	Installed string `json:"installed"`
	// InstalledEntry is that history entry (0: read from .env).
	InstalledEntry int `json:"installed_entry,omitempty"`
	// Repo says the checkout is a git repository; Commit is its HEAD and
	// Newer the release tags newer than the installed one that git
	// already has, oldest first.
	Repo   bool          `json:"repo"`
	Commit string        `json:"commit,omitempty"`
	Newer  []gitrepo.Tag `json:"newer,omitempty"`
}

// Differs reports whether the checkout holds another release than the one
// installed.
func (r Releases) Differs() bool {
	return r.Installed != "" && r.CheckedOut != "" && r.Installed != r.CheckedOut
}

// Notice says so in one sentence, or "" when they are the same.
func (r Releases) Notice() string {
	if !r.Differs() {
		return ""
	}
	return r.CheckedOut + " is checked out; " + r.Installed + " is installed"
}

// Direction is upgrade.Forward when the checkout is newer than what is
// installed, upgrade.Backward when older.
func (r Releases) Direction() upgrade.Direction {
	switch c := upgrade.CompareReleases(r.CheckedOut, r.Installed); {
	case !r.Differs() || c == 0:
		return upgrade.Same
	case c > 0:
		return upgrade.Forward
	}
	return upgrade.Backward
}

// DetectReleases reads the checkout in dir and the history. A directory
// that is not a git repository is no error: Repo is false.
func DetectReleases(ctx context.Context, dir string, h *history.Store) (Releases, error) {
	var r Releases
	if b, err := os.ReadFile(filepath.Join(dir, "VERSION")); err == nil {
		r.CheckedOut = trimVersion(b)
	}
	if h != nil {
		e, ok, err := h.Installed()
		if err != nil {
			return r, err
		}
		if ok {
			r.Installed, r.InstalledEntry = e.Release, e.ID
		}
	}
	if r.Installed == "" {
		if b, err := os.ReadFile(filepath.Join(dir, deploy.DotEnvFile)); err == nil {
			if f, err := envfile.Parse(b); err == nil {
				v, _ := f.Get("CARTO_SELFHOSTED_VERSION")
				r.Installed = trimVersion([]byte(v))
			}
		}
	}
	repo, err := gitrepo.Open(ctx, dir)
	switch {
	case errors.Is(err, gitrepo.ErrNotRepo), errors.Is(err, gitrepo.ErrNoGit):
		return r, nil
	case err != nil:
		return r, err
	}
	r.Repo = true
	if r.Commit, err = repo.Head(ctx); err != nil {
		return r, err
	}
	base := r.Installed
	if base == "" {
		base = r.CheckedOut
	}
	if base != "" {
		if r.Newer, err = repo.TagsNewerThan(ctx, base); err != nil {
			return r, err
		}
	}
	return r, nil
}

// Checkout checks out a release tag in dir with git, as CARTO's upgrade
// instructions do. It returns a *gitrepo.DirtyError naming the tracked
// files that are modified, and changes nothing then.
func Checkout(ctx context.Context, dir, tag string) error {
	repo, err := gitrepo.Open(ctx, dir)
	if err != nil {
		return fmt.Errorf("upgrade: %s is not a git checkout of carto-selfhosted: check out %s by hand: %w", dir, tag, err)
	}
	return repo.Checkout(ctx, tag)
}

// installedRelease returns the files of the installed release: the copy
// its history entry kept, or, for an install made before the history, the
// files of its tag in git.
func installedRelease(ctx context.Context, dir string, h *history.Store, r Releases) (upgrade.Release, error) {
	if r.InstalledEntry > 0 {
		files, err := h.ReleaseFiles(r.InstalledEntry)
		if err == nil {
			if rel, err := upgrade.ReleaseFromFiles(files); err == nil {
				return rel, nil
			}
		}
	}
	repo, err := gitrepo.Open(ctx, dir)
	if err != nil {
		return upgrade.Release{}, fmt.Errorf("the files of the installed release %s are not kept and %s is not a git checkout", r.Installed, dir)
	}
	files := map[string][]byte{}
	for _, name := range upgrade.ReleaseFiles {
		b, err := repo.Show(ctx, r.Installed, name)
		if err != nil {
			return upgrade.Release{}, fmt.Errorf("the files of the installed release %s: %w", r.Installed, err)
		}
		files[name] = b
	}
	return upgrade.ReleaseFromFiles(files)
}

func trimVersion(b []byte) string {
	return strings.TrimSpace(strings.ReplaceAll(string(b), `"`, ""))
}

// OpenHistory opens the history kept in the state directory and marks as
// interrupted any entry whose process died before it could end it.
func OpenHistory(stateDir string, now func() time.Time) (*history.Store, error) {
	h, err := history.Open(filepath.Join(stateDir, "history"), now)
	if err != nil {
		return nil, err
	}
	if _, err := h.MarkInterrupted(); err != nil {
		return nil, err
	}
	return h, nil
}
