package release

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/carto-setup/carto-setup/internal/atomicfile"
)

// The stand-in's two releases, as CARTO publishes one a month. The newer
// is the embedded release (files/); the older differs from it the way
// CARTO's releases differ from one another:
//   - its MIN_VERSION is OlderMinVersion, below NewerMinVersion, so the
//     older sample package (OlderPackageVersion) must be replaced to upgrade;
//   - its env.tpl lacks WORKSPACE_HTTP_REQUEST_RESTRICT_IPS, a key the newer
//     env.tpl adds (and would override in customer.env), and names the
//     cache image REDIS_DOCKER_IMAGE;
//   - its cache service is called redis; the newer renamed it valkey and
//     kept redis as a network alias (CARTO did this in 2026.4.24);
//   - the stand-in workspace-migrations of the newer release applies one
//     more migration and records a higher schema version, which the older
//     one refuses to run against (standin.SchemaVersion).
const (
	OlderVersion        = "2026.7.16"
	NewerVersion        = "2026.8.11"
	OlderMinVersion     = "2026.4.1"
	NewerMinVersion     = "2026.8.1"
	OlderPackageVersion = "2026.7.1"
)

// olderEdits turn the embedded (newer) release into the older one. Each
// old text must occur exactly once, so a change to files/ that breaks an
// edit fails loudly instead of writing a release that is not the older.
var olderEdits = map[string][]struct{ old, new string }{
	"MIN_VERSION": {{NewerMinVersion + "\n", OlderMinVersion + "\n"}},
	"env.tpl": {
		{"# Since 2026.8.11: the Workflows HTTP component may not call private addresses.\nWORKSPACE_HTTP_REQUEST_RESTRICT_IPS=true\n", ""},
		{"\nVALKEY_DOCKER_IMAGE=", "\nREDIS_DOCKER_IMAGE="},
	},
	"docker-compose.yml": {
		{"\n  valkey:\n    image: ${VALKEY_DOCKER_IMAGE}\n", "\n  redis:\n    image: ${REDIS_DOCKER_IMAGE}\n"},
		{"    networks:\n      default:\n        aliases:\n          - redis\n", ""},
	},
}

func older(name string, data []byte) ([]byte, error) {
	for _, e := range olderEdits[name] {
		if n := bytes.Count(data, []byte(e.old)); n != 1 {
			return nil, fmt.Errorf("older release: %s has %q %d times, want once", name, e.old, n)
		}
		data = bytes.Replace(data, []byte(e.old), []byte(e.new), 1)
	}
	return data, nil
}

// WriteOlder writes the older stand-in release into dir, as Write writes
// the newer, with version in VERSION (OlderVersion when empty).
func WriteOlder(dir, version string) error {
	if version == "" {
		version = OlderVersion
	}
	return writeRelease(dir, version, older)
}

// gitignore is the .gitignore of the checkout, with the entries of CARTO's
// (carto-facts §1), so that git status and checkout leave the admin's files
// alone. docker-compose.yml is listed there too although tracked; an
// ignore entry has no effect on a tracked file.
const gitignore = ".env\ncerts/\ncustomer.env*\nkey.json\ndocker-compose.yml\n.vscode/**\n"

// WriteRepo writes the stand-in release into dir as a git repository with
// the two release tags, OlderVersion and NewerVersion, and leaves HEAD
// detached at the older, as an admin has it after installing the older
// release and before `git checkout tags/<newer>`. It returns the tags,
// oldest first. On a directory where WriteRepo already made the repository
// it changes nothing (the admin may have checked out the newer tag) and
// returns the tags. customer.env, key.json, .env and certs/ are left alone.
func WriteRepo(dir string) ([]string, error) { return WriteRepoTags(dir, "") }

// WriteRepoTags is WriteRepo with suffix appended to both versions, for
// tests that need image tags of their own (2026.7.16-t42, 2026.8.11-t42).
func WriteRepoTags(dir, suffix string) ([]string, error) {
	tags := []string{OlderVersion + suffix, NewerVersion + suffix}
	for _, t := range tags {
		if !validVersion(t) {
			return nil, fmt.Errorf("release: write repo: version %q is not of the form YYYY.M.D[-suffix]", t)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	git := func(date string, args ...string) error {
		cmd := exec.CommandContext(ctx, "git", append([]string{"-C", dir,
			"-c", "user.name=carto-setup stand-in", "-c", "user.email=standin@carto-setup.invalid",
			"-c", "commit.gpgsign=false", "-c", "tag.gpgsign=false", "-c", "advice.detachedHead=false"}, args...)...)
		cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0", "LC_ALL=C")
		if date != "" {
			// Fixed dates give the same commits on every machine.
			cmd.Env = append(cmd.Env, "GIT_AUTHOR_DATE="+date, "GIT_COMMITTER_DATE="+date)
		}
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("release: write repo: git %s: %w: %s", args[0], err, strings.TrimSpace(string(out)))
		}
		return nil
	}
	if _, err := os.Stat(filepath.Join(dir, ".git")); err == nil {
		for _, t := range tags {
			if err := git("", "rev-parse", "--verify", "--quiet", "refs/tags/"+t); err != nil {
				return nil, fmt.Errorf("release: write repo: %s is a git repository without tag %s", dir, t)
			}
		}
		return tags, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("release: write repo: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("release: write repo: %w", err)
	}
	if err := git("", "init", "--quiet", "--initial-branch=master"); err != nil {
		return nil, err
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, ".gitignore"), []byte(gitignore), 0o644); err != nil {
		return nil, fmt.Errorf("release: write repo: %w", err)
	}
	entries, err := fs.ReadDir(files, "files")
	if err != nil {
		return nil, fmt.Errorf("release: write repo: %w", err)
	}
	names := []string{".gitignore"}
	for _, e := range entries {
		names = append(names, e.Name())
	}
	steps := []struct {
		tag, date string
		write     func(dir, version string) error
	}{
		{tags[0], "2026-07-16T10:00:00Z", WriteOlder},
		{tags[1], "2026-08-11T10:00:00Z", Write},
	}
	for _, s := range steps {
		if err := s.write(dir, s.tag); err != nil {
			return nil, err
		}
		// Only the release's own files: the directory may hold the
		// admin's files and carto-setup's state, which must never be
		// committed. --force because docker-compose.yml is tracked although
		// listed in .gitignore, as in CARTO's repository.
		if err := git(s.date, append([]string{"add", "--force", "--"}, names...)...); err != nil {
			return nil, err
		}
		if err := git(s.date, "commit", "--quiet", "-m", "Release "+s.tag); err != nil {
			return nil, err
		}
		if err := git(s.date, "tag", s.tag); err != nil {
			return nil, err
		}
	}
	if err := git("", "checkout", "--quiet", "tags/"+tags[0]); err != nil {
		return nil, err
	}
	return tags, nil
}
