package deploy

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/carto-setup/carto-setup/internal/atomicfile"
	"github.com/carto-setup/carto-setup/internal/envfile"
	"github.com/carto-setup/carto-setup/internal/fileaccess"
)

// RecordDir is where, under carto-setup's state directory, deploy keeps
// the record of what the last install wrote.
const RecordDir = "written"

// recordFile is the record's name in RecordDir; one file, so that it is
// replaced atomically as a whole.
const recordFile = "record.json"

// recordSchema is the record's layout version; a newer one is not read.
const recordSchema = 1

// Record is what the last install wrote into a release directory: the
// base of the next install's three-way merge. It holds the content of the
// text files that are merged (customer.env, .env) and of the package they
// came from, and the SHA-256 of every file, which is enough to tell a hand
// edit of a certificate or key (their content is not kept twice). It holds
// secrets, like the wizard's state next to it, and is written owner-only.
type Record struct {
	Schema     int       `json:"schema"`
	ReleaseDir string    `json:"release_dir"`
	Version    string    `json:"version"`
	At         time.Time `json:"at"`
	// Package is the customer package's customer.env the install started
	// from (POSTGRES_PASSWORD renamed, LF line ends).
	Package string `json:"package"`
	// CustomerEnv and DotEnv are the files as written.
	CustomerEnv string `json:"customer_env"`
	DotEnv      string `json:"dot_env"`
	// WizardKeys are the customer.env keys the wizard set or commented out.
	WizardKeys []string `json:"wizard_keys"`
	// KeptMine are the wizard's keys whose hand value the admin chose to
	// keep over the wizard's: while the disk and the wizard say the same
	// as then, the choice stands and is not asked again.
	KeptMine map[string]KeptValue `json:"kept_mine,omitempty"`
	// Files are every file written, by path relative to the release
	// directory.
	Files map[string]RecordedFile `json:"files"`
}

// RecordedFile is one written file: its hash and the users that were
// given read access to it (none: owner-only). Declined is the hash of the
// content the install would have written over a hand-replaced file the
// admin chose to keep.
type RecordedFile struct {
	SHA256   string            `json:"sha256"`
	Size     int               `json:"size"`
	Readers  []fileaccess.User `json:"readers,omitempty"`
	Declined string            `json:"declined,omitempty"`
}

// KeptValue is a hand value kept over the wizard's (Proposed).
type KeptValue struct {
	Hand     envfile.Value `json:"hand"`
	Proposed envfile.Value `json:"proposed"`
}

func sha(data []byte) string {
	s := sha256.Sum256(data)
	return hex.EncodeToString(s[:])
}

// LoadRecord reads the record kept under stateDir. ok is false when there
// is none yet (no install has written anything through this version of
// carto-setup).
func LoadRecord(stateDir string) (rec Record, ok bool, err error) {
	b, err := os.ReadFile(filepath.Join(stateDir, RecordDir, recordFile))
	if errors.Is(err, fs.ErrNotExist) {
		return Record{}, false, nil
	}
	if err != nil {
		return Record{}, false, fmt.Errorf("deploy: read the install record: %w", err)
	}
	if err := json.Unmarshal(b, &rec); err != nil {
		return Record{}, false, fmt.Errorf("deploy: read the install record: %w", err)
	}
	if rec.Schema > recordSchema {
		return Record{}, false, fmt.Errorf("deploy: the install record has layout %d, newer than this carto-setup's %d", rec.Schema, recordSchema)
	}
	return rec, true, nil
}

// saveRecord writes rec under stateDir, owner-only.
func saveRecord(stateDir string, rec Record) error {
	dir := filepath.Join(stateDir, RecordDir)
	if err := os.MkdirAll(dir, DirPerm); err != nil {
		return fmt.Errorf("deploy: write the install record: %w", err)
	}
	if err := os.Chmod(dir, DirPerm); err != nil {
		return fmt.Errorf("deploy: write the install record: %w", err)
	}
	rec.Schema = recordSchema
	b, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return fmt.Errorf("deploy: write the install record: %w", err)
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, recordFile), append(b, '\n'), FilePerm); err != nil {
		return fmt.Errorf("deploy: write the install record: %w", err)
	}
	return nil
}

// WriteMounted replaces a file of the release directory that containers
// read (certs/...), outside an install: the certificate renewal writes the
// router's new certificate and key with it. The file is written atomically,
// owner-only, and then given the same read access as the file it replaces
// (a file replaced by rename would lose its ACL, and the router could no
// longer read its certificate). When stateDir holds the record of the
// install, the new content is recorded as carto-setup's own write, so that
// the next install does not take it for a hand edit.
func WriteMounted(stateDir, releaseDir, rel string, data []byte) error {
	path := filepath.Join(releaseDir, rel)
	uids, err := fileaccess.Readers(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("deploy: write %s: %w", rel, err)
	}
	var rec Record
	ok := false
	if stateDir != "" {
		if rec, ok, err = LoadRecord(stateDir); err != nil {
			return err
		}
		ok = ok && filepath.Clean(rec.ReleaseDir) == filepath.Clean(releaseDir)
	}
	var readers []fileaccess.User
	if ok {
		readers = rec.Files[rel].Readers
	}
	for _, uid := range uids {
		if !slices.ContainsFunc(readers, func(u fileaccess.User) bool { return u.UID == uid }) {
			readers = append(readers, fileaccess.User{UID: uid, GID: uid})
		}
	}
	if err := atomicfile.WriteFile(path, data, FilePerm); err != nil {
		return fmt.Errorf("deploy: write %s: %w", rel, err)
	}
	if err := grantFile(releaseDir, rel, readers, nil); err != nil {
		return fmt.Errorf("deploy: write %s: %w", rel, err)
	}
	if !ok {
		return nil
	}
	if rec.Files == nil {
		rec.Files = map[string]RecordedFile{}
	}
	rec.Files[rel] = RecordedFile{SHA256: sha(data), Size: len(data), Readers: readers}
	return saveRecord(stateDir, rec)
}

// RecordRestored records the files a restore from the history put back
// (content by path relative to releaseDir) and those it removed as
// carto-setup's own writes, keeping each file's readers: the next install
// takes them as its base instead of reporting every restored line as a
// hand edit. Without a record of releaseDir there is nothing to update.
func RecordRestored(stateDir, releaseDir string, files map[string][]byte, removed []string) error {
	rec, ok, err := LoadRecord(stateDir)
	if err != nil || !ok || filepath.Clean(rec.ReleaseDir) != filepath.Clean(releaseDir) {
		return err
	}
	if rec.Files == nil {
		rec.Files = map[string]RecordedFile{}
	}
	for rel, data := range files {
		f := rec.Files[rel]
		f.SHA256, f.Size, f.Declined = sha(data), len(data), ""
		rec.Files[rel] = f
		switch rel {
		case CustomerEnvFile:
			rec.CustomerEnv = string(data)
		case DotEnvFile:
			rec.DotEnv = string(data)
		}
	}
	for _, rel := range removed {
		delete(rec.Files, rel)
	}
	return saveRecord(stateDir, rec)
}
