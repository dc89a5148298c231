package upgrade

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// ReleaseFiles are the files of a release checkout a plan compares, by
// their names in the checkout. A snapshot of them (kept in the history, or
// read from git at the installed tag) stands for a release that is no longer
// checked out.
var ReleaseFiles = []string{"VERSION", "MIN_VERSION", "env.tpl", "docker-compose.yml"}

// Release is one CARTO release as the plan sees it.
type Release struct {
	Version        string // VERSION without white space or double quotes
	MinVersionFile []byte // MIN_VERSION as it is, compared the way install.sh compares it
	EnvTpl         []byte
	Compose        []byte
}

// MinVersion returns MIN_VERSION without white space or double quotes.
func (r Release) MinVersion() string { return trimVersion(r.MinVersionFile) }

// ReadRelease reads the release checked out in dir.
func ReadRelease(dir string) (Release, error) {
	files := map[string][]byte{}
	for _, name := range ReleaseFiles {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return Release{}, fmt.Errorf("upgrade: read release: %w", err)
		}
		files[name] = b
	}
	return ReleaseFromFiles(files)
}

// ReleaseFromFiles builds a Release from a snapshot of ReleaseFiles, keyed
// by name; every one must be present and VERSION not empty.
func ReleaseFromFiles(files map[string][]byte) (Release, error) {
	for _, name := range ReleaseFiles {
		if _, ok := files[name]; !ok {
			return Release{}, fmt.Errorf("upgrade: release snapshot lacks %s: %w", name, fs.ErrNotExist)
		}
	}
	r := Release{
		Version:        trimVersion(files["VERSION"]),
		MinVersionFile: files["MIN_VERSION"],
		EnvTpl:         files["env.tpl"],
		Compose:        files["docker-compose.yml"],
	}
	if r.Version == "" {
		return Release{}, errors.New("upgrade: release snapshot: VERSION is empty")
	}
	return r, nil
}

// trimVersion reads a VERSION or MIN_VERSION file as install.sh does.
func trimVersion(b []byte) string {
	return strings.TrimSpace(strings.ReplaceAll(string(b), `"`, ""))
}
