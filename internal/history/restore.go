package history

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"

	"github.com/carto-setup/carto-setup/internal/atomicfile"
)

// RestoreFile is one file a restore writes, relative to the release
// directory. Unchanged files already hold Data and keep their content
// (only their mode is set).
type RestoreFile struct {
	Path      string
	Mode      fs.FileMode
	Data      []byte // may hold secrets: never shown
	Unchanged bool
}

// RestorePlan is what restoring an entry does, computed without writing:
// the files it writes, the tracked files it removes (present now, absent
// from the entry), and what the admin must know before going ahead.
type RestorePlan struct {
	Entry      Entry
	ReleaseDir string
	Writes     []RestoreFile
	Removes    []string
	// CheckedOut is the release in the release directory (its VERSION).
	// When it is not Entry.Release, the checkout must move to the entry's
	// release before the files are restored: they belong with its
	// docker-compose.yml and env.tpl.
	CheckedOut string
	// Installed is the release of the newest successful entry.
	// CrossRelease is set when it is not the entry's: CARTO's database
	// migrations are forward-only, so going back needs the database as it
	// was, from Backup (taken by entry BackupEntry, the upgrade that left
	// Entry.Release), which carto-setup never restores on its own.
	Installed    string
	CrossRelease bool
	Backup       *Backup
	BackupEntry  int
}

// PlanRestore plans restoring entry id into releaseDir. The entry's kept
// copies are checked against the hashes it recorded, so a damaged copy is
// refused rather than written.
func (s *Store) PlanRestore(id int, releaseDir string) (RestorePlan, error) {
	unlock, err := s.lock()
	if err != nil {
		return RestorePlan{}, err
	}
	defer unlock()
	e, err := s.get(id)
	if err != nil {
		return RestorePlan{}, err
	}
	if e.Result == Running || e.Result == Interrupted || e.Ended == nil {
		return RestorePlan{}, fmt.Errorf("history: restore %d: the %s did not end, so its files were not recorded", id, e.Action)
	}
	p := RestorePlan{Entry: e, ReleaseDir: releaseDir}
	paths := make([]string, 0, len(e.Files))
	for path := range e.Files {
		paths = append(paths, path)
	}
	sort.Strings(paths)
	for _, path := range paths {
		f := e.Files[path]
		data, err := os.ReadFile(filepath.Join(s.entryDir(id), filesDir, filepath.FromSlash(path)))
		if err != nil {
			return RestorePlan{}, fmt.Errorf("history: restore %d: %w", id, err)
		}
		if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != f.SHA256 {
			return RestorePlan{}, fmt.Errorf("history: restore %d: the kept copy of %s does not match its recorded hash", id, path)
		}
		cur, err := os.ReadFile(filepath.Join(releaseDir, filepath.FromSlash(path)))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return RestorePlan{}, fmt.Errorf("history: restore %d: %w", id, err)
		}
		p.Writes = append(p.Writes, RestoreFile{Path: path, Mode: fs.FileMode(f.Mode).Perm(), Data: data, Unchanged: err == nil && bytes.Equal(cur, data)})
	}
	_, err = walkTracked(releaseDir, func(rel, _ string, _ fs.FileInfo) error {
		if _, ok := e.Files[rel]; !ok {
			p.Removes = append(p.Removes, rel)
		}
		return nil
	})
	if err != nil {
		return RestorePlan{}, fmt.Errorf("history: restore %d: %w", id, err)
	}
	if b, err := os.ReadFile(filepath.Join(releaseDir, "VERSION")); err == nil {
		p.CheckedOut = trimVersion(b)
	}

	installed, ok, err := s.installed()
	if err != nil {
		return RestorePlan{}, err
	}
	if ok {
		p.Installed = installed.Release
	}
	p.CrossRelease = ok && installed.Release != e.Release
	if p.CrossRelease {
		entries, err := s.list()
		if err != nil {
			return RestorePlan{}, err
		}
		// The oldest upgrade after the entry that left its release holds
		// the database as the entry's release had it.
		for _, u := range slices.Backward(entries) {
			if u.ID > e.ID && u.Action == Upgrade && u.FromRelease == e.Release && u.Backup != nil {
				p.Backup, p.BackupEntry = u.Backup, u.ID
				break
			}
		}
	}
	return p, nil
}

// Restore carries out a plan: it begins a restore entry (which keeps the
// files it replaces), writes every file of the plan atomically with its
// recorded mode (certs/ owner-only), and removes the files the plan
// removes. It returns the recording for the caller to finish once Compose
// has run; when a write fails it finishes the entry as failed itself and
// the files it replaced are in that entry. The database is not touched.
func (s *Store) Restore(p RestorePlan, origin Origin) (*Recording, error) {
	rec, err := s.Begin(Start{Action: Restore, Origin: origin, ReleaseDir: p.ReleaseDir, Release: p.Entry.Release,
		Commit: p.Entry.Commit, PackageVersion: p.Entry.PackageVersion, RestoredFrom: p.Entry.ID})
	if err != nil {
		return nil, err
	}
	if err := writeRestore(p); err != nil {
		rec.Finish(Failed, "the files could not all be restored: "+err.Error())
		return nil, err
	}
	return rec, nil
}

func writeRestore(p RestorePlan) error {
	for _, f := range p.Writes {
		path := filepath.Join(p.ReleaseDir, filepath.FromSlash(f.Path))
		if dir := filepath.Dir(f.Path); dir != "." {
			if err := os.MkdirAll(filepath.Join(p.ReleaseDir, dir), 0o700); err != nil {
				return fmt.Errorf("history: restore: %w", err)
			}
		}
		if f.Unchanged {
			if err := os.Chmod(path, f.Mode); err != nil {
				return fmt.Errorf("history: restore: %w", err)
			}
			continue
		}
		if err := atomicfile.WriteFile(path, f.Data, f.Mode); err != nil {
			return fmt.Errorf("history: restore: %w", err)
		}
	}
	for _, rel := range p.Removes {
		if err := os.Remove(filepath.Join(p.ReleaseDir, filepath.FromSlash(rel))); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("history: restore: %w", err)
		}
	}
	return nil
}
