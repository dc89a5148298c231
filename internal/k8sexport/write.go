package k8sexport

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/carto-setup/carto-setup/internal/atomicfile"
)

// WriteOptions says how to treat files that already exist.
type WriteOptions struct {
	// Overwrite replaces existing files whose content differs, after
	// copying each to "<name>.bak-<UTC time>". Without it such a file
	// stops the write before anything is written. A file that already
	// holds exactly the new content is left as it is either way, so
	// exporting the same answers twice succeeds and changes nothing.
	Overwrite bool
	// Now names the backups; time.Now when nil.
	Now func() time.Time
}

// ErrExists is returned, wrapped, when a file would be overwritten without
// WriteOptions.Overwrite.
var ErrExists = errors.New("file exists")

// Modes: anything that holds a secret is owner-only.
const (
	modeShared = 0o644
	modeSecret = 0o600
	modeDir    = 0o700
)

type plannedFile struct {
	path string
	data []byte
	perm fs.FileMode
}

// WriteHelm writes customizations.yaml, customizations.secrets.yaml and
// REPORT.md into dir (created owner-only if missing), plus secrets/ with
// SecretRefs. Every file is checked before the first is written.
func (r Result) WriteHelm(dir string, wo WriteOptions) error {
	files := []plannedFile{
		{filepath.Join(dir, ValuesFile), r.Values, modeShared},
		{filepath.Join(dir, SecretsFile), r.Secrets, modeSecret},
		{filepath.Join(dir, ReportFile), r.Report, modeShared},
	}
	names := make([]string, 0, len(r.SecretFiles))
	for name := range r.SecretFiles {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		files = append(files, plannedFile{filepath.Join(dir, filepath.FromSlash(name)), r.SecretFiles[name], modeSecret})
	}
	if len(names) > 0 {
		// Keeps the secret values out of a repository the directory may
		// be committed to.
		files = append(files, plannedFile{filepath.Join(dir, secretsDir, ".gitignore"), []byte("*\n"), modeShared})
	}
	if err := writeAll(files, wo); err != nil {
		return fmt.Errorf("export helm: %w", err)
	}
	return nil
}

// WriteKOTS writes the ConfigValues document to file, owner-only: it holds
// the secrets.
func (r Result) WriteKOTS(file string, wo WriteOptions) error {
	if err := writeAll([]plannedFile{{file, r.KOTS, modeSecret}}, wo); err != nil {
		return fmt.Errorf("export kots: %w", err)
	}
	return nil
}

// writeAll plans every file first (refusing, before any write, a file that
// would be replaced without Overwrite or that is not a regular file), then
// backs up and writes atomically.
func writeAll(files []plannedFile, wo WriteOptions) error {
	now := time.Now
	if wo.Now != nil {
		now = wo.Now
	}
	stamp := now().UTC().Format("20060102T150405Z")
	type step struct {
		plannedFile
		old     []byte
		oldPerm fs.FileMode
		exists  bool
	}
	var steps []step
	var refused []string
	for _, f := range files {
		s := step{plannedFile: f}
		fi, err := os.Lstat(f.path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			return fmt.Errorf("check %s: %w", f.path, err)
		case !fi.Mode().IsRegular():
			return fmt.Errorf("%s exists and is not a regular file", f.path)
		default:
			if s.old, err = os.ReadFile(f.path); err != nil {
				return fmt.Errorf("check %s: %w", f.path, err)
			}
			s.exists, s.oldPerm = true, fi.Mode().Perm()
			if !bytes.Equal(s.old, f.data) && !wo.Overwrite {
				refused = append(refused, f.path)
			}
		}
		steps = append(steps, s)
	}
	if len(refused) > 0 {
		return fmt.Errorf("%w, refusing to overwrite without being told to: %s", ErrExists, strings.Join(refused, ", "))
	}
	for _, s := range steps {
		if err := os.MkdirAll(filepath.Dir(s.path), modeDir); err != nil {
			return fmt.Errorf("create %s: %w", filepath.Dir(s.path), err)
		}
		if s.exists && bytes.Equal(s.old, s.data) {
			if s.oldPerm != s.perm {
				if err := os.Chmod(s.path, s.perm); err != nil {
					return fmt.Errorf("chmod %s: %w", s.path, err)
				}
			}
			continue
		}
		if s.exists {
			// The backup keeps the old file's secrets owner-only too.
			if err := atomicfile.WriteFile(s.path+".bak-"+stamp, s.old, s.oldPerm&modeSecret); err != nil {
				return fmt.Errorf("back up %s: %w", s.path, err)
			}
		}
		if err := atomicfile.WriteFile(s.path, s.data, s.perm); err != nil {
			return err
		}
	}
	return nil
}
