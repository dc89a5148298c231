package history

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/carto-setup/carto-setup/internal/atomicfile"
)

// Keep is how many entries the history keeps; older ones are removed with
// their copies of the files.
const Keep = 10

// TrackedFiles are the files of the release directory an entry keeps, and
// TrackedDir the directory kept with everything in it: what an install
// writes and install.sh would overwrite.
var (
	TrackedFiles = []string{"customer.env", "key.json", ".env"}
	TrackedDir   = "certs"
)

// releaseFiles are the release's own files an entry keeps a copy of, so
// that a later upgrade can compare against the release this entry
// installed after the checkout has moved on (upgrade.ReleaseFiles).
var releaseFiles = []string{"VERSION", "MIN_VERSION", "env.tpl", "docker-compose.yml"}

// Sub-directories of an entry.
const (
	entryFile   = "entry.json"
	replacedDir = "replaced" // the files found when the action began
	filesDir    = "files"    // the files the action left
	releaseDir  = "release"  // the release's VERSION, MIN_VERSION, env.tpl, docker-compose.yml
	runningLock = ".running" // locked while the recording process lives
)

// ErrNotFound is returned for an entry that is not (or no longer) kept.
var ErrNotFound = errors.New("history: no such entry")

var entryDirRE = regexp.MustCompile(`^[0-9]{6}$`)

// Store is the history in one directory of the state directory. Several
// processes (the wizard and a command) may use it at once: every change
// holds an exclusive lock on the directory.
type Store struct {
	dir string
	now func() time.Time
}

// Open returns the history in dir, creating it owner-only (0700), and
// removes what an action interrupted in the middle of Begin left.
func Open(dir string, now func() time.Time) (*Store, error) {
	s := &Store{dir: dir, now: now}
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		// Nothing is recorded yet; the directory is made by the first
		// write, so a command that reads the history and then refuses
		// leaves the state directory as it was.
		return s, nil
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, fmt.Errorf("history: open: %w", err)
	}
	unlock, err := s.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	temps, _ := filepath.Glob(filepath.Join(dir, ".tmp-*"))
	for _, t := range temps {
		if err := os.RemoveAll(t); err != nil {
			return nil, fmt.Errorf("history: open: remove %s: %w", t, err)
		}
	}
	return s, nil
}

// create makes the history directory, owner-only, before a first write.
func (s *Store) create() error {
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return fmt.Errorf("history: create: %w", err)
	}
	if err := os.Chmod(s.dir, 0o700); err != nil {
		return fmt.Errorf("history: create: %w", err)
	}
	return nil
}

// lock takes the directory's exclusive lock; the returned function
// releases it.
func (s *Store) lock() (func(), error) {
	f, err := os.OpenFile(filepath.Join(s.dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if errors.Is(err, fs.ErrNotExist) {
		return func() {}, nil // no history yet: readers find nothing, writers create it first
	}
	if err != nil {
		return nil, fmt.Errorf("history: lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("history: lock: %w", err)
	}
	return func() { f.Close() }, nil
}

func (s *Store) entryDir(id int) string { return filepath.Join(s.dir, fmt.Sprintf("%06d", id)) }

// ids returns the kept entries' IDs, oldest first.
func (s *Store) ids() ([]int, error) {
	des, err := os.ReadDir(s.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("history: list: %w", err)
	}
	var ids []int
	for _, de := range des {
		if de.IsDir() && entryDirRE.MatchString(de.Name()) {
			id, _ := strconv.Atoi(de.Name())
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids, nil
}

// Start describes an action about to change the release directory.
type Start struct {
	Action         Action
	Origin         Origin
	ReleaseDir     string
	Release        string // the release being installed (VERSION)
	Commit         string // the checkout's git commit, when it is a git repository
	PackageVersion string
	FromRelease    string // an upgrade's installed release
	RestoredFrom   int    // a restore's source entry
}

// Recording is an entry in progress: begun, not yet finished.
type Recording struct {
	s        *Store
	dir      string
	release  string
	entry    Entry
	running  *os.File
	finished bool
}

// Begin records the start of an action before it writes anything: it keeps
// a copy of the tracked files of the release directory (the files the
// action may replace) and of the release's own files, as a new entry with
// result Running, then removes the entries beyond the last Keep. The entry
// appears complete or not at all.
func (s *Store) Begin(st Start) (*Recording, error) {
	if err := s.create(); err != nil {
		return nil, err
	}
	unlock, err := s.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	ids, err := s.ids()
	if err != nil {
		return nil, err
	}
	id := 1
	if len(ids) > 0 {
		id = ids[len(ids)-1] + 1
	}
	e := Entry{ID: id, Time: s.now().UTC(), Action: st.Action, Origin: st.Origin, Release: st.Release, Commit: st.Commit,
		PackageVersion: st.PackageVersion, FromRelease: st.FromRelease, RestoredFrom: st.RestoredFrom, Result: Running,
		Files: map[string]File{}}

	tmp := filepath.Join(s.dir, fmt.Sprintf(".tmp-%06d-%s", id, rand.Text()[:8]))
	if err := os.Mkdir(tmp, 0o700); err != nil {
		return nil, fmt.Errorf("history: begin: %w", err)
	}
	defer os.RemoveAll(tmp) // a no-op once renamed
	var skipped []string
	e.Replaced, skipped, err = keepTracked(st.ReleaseDir, filepath.Join(tmp, replacedDir))
	if err != nil {
		return nil, fmt.Errorf("history: begin: %w", err)
	}
	e.Skipped = skipped
	for _, name := range releaseFiles {
		b, err := os.ReadFile(filepath.Join(st.ReleaseDir, name))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("history: begin: %w", err)
		}
		if err := writeKept(filepath.Join(tmp, releaseDir, name), b); err != nil {
			return nil, fmt.Errorf("history: begin: %w", err)
		}
	}
	if err := writeEntry(tmp, e); err != nil {
		return nil, fmt.Errorf("history: begin: %w", err)
	}
	running, err := os.OpenFile(filepath.Join(tmp, runningLock), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("history: begin: %w", err)
	}
	if err := syscall.Flock(int(running.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		running.Close()
		return nil, fmt.Errorf("history: begin: %w", err)
	}
	dir := s.entryDir(id)
	if err := os.Rename(tmp, dir); err != nil {
		running.Close()
		return nil, fmt.Errorf("history: begin: %w", err)
	}
	if err := atomicfile.SyncDir(s.dir); err != nil {
		running.Close()
		return nil, fmt.Errorf("history: begin: %w", err)
	}
	if err := s.prune(append(ids, id)); err != nil {
		running.Close()
		return nil, err
	}
	return &Recording{s: s, dir: dir, release: st.ReleaseDir, entry: e, running: running}, nil
}

// prune removes the oldest entries beyond Keep.
func (s *Store) prune(ids []int) error {
	for len(ids) > Keep {
		if err := os.RemoveAll(s.entryDir(ids[0])); err != nil {
			return fmt.Errorf("history: remove entry %d: %w", ids[0], err)
		}
		ids = ids[1:]
	}
	return nil
}

// ID returns the entry's ID.
func (r *Recording) ID() int { return r.entry.ID }

// SetBackup records the database backup taken (or the snapshot reason
// confirmed) before the action changes anything.
func (r *Recording) SetBackup(b Backup) error {
	if r.finished {
		return errors.New("history: set backup: the entry is finished")
	}
	unlock, err := r.s.lock()
	if err != nil {
		return err
	}
	defer unlock()
	r.entry.Backup = &b
	if err := writeEntry(r.dir, r.entry); err != nil {
		return fmt.Errorf("history: set backup: %w", err)
	}
	return nil
}

// Finish ends the entry with result and a message for the admin: it keeps a
// copy and the hash of every tracked file the action left in the release
// directory, the files a restore of this entry brings back.
func (r *Recording) Finish(result Result, message string) (Entry, error) {
	if r.finished {
		return Entry{}, errors.New("history: finish: the entry is already finished")
	}
	unlock, err := r.s.lock()
	if err != nil {
		return Entry{}, err
	}
	defer unlock()
	tmp := filepath.Join(r.dir, ".tmp-"+filesDir)
	os.RemoveAll(tmp)
	files, skipped, err := keepTracked(r.release, tmp)
	if err != nil {
		return Entry{}, fmt.Errorf("history: finish: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(r.dir, filesDir)); err != nil {
		return Entry{}, fmt.Errorf("history: finish: %w", err)
	}
	ended := r.s.now().UTC()
	r.entry.Files, r.entry.Result, r.entry.Message, r.entry.Ended = files, result, message, &ended
	for _, p := range skipped {
		if !slices.Contains(r.entry.Skipped, p) {
			r.entry.Skipped = append(r.entry.Skipped, p)
		}
	}
	if err := writeEntry(r.dir, r.entry); err != nil {
		return Entry{}, fmt.Errorf("history: finish: %w", err)
	}
	r.finished = true
	r.running.Close()
	os.Remove(filepath.Join(r.dir, runningLock))
	return r.entry, nil
}

// MarkInterrupted ends, as Interrupted, every entry still Running whose
// recording process is gone (its lock is free): a crash or a kill during
// an install. It returns how many it marked.
func (s *Store) MarkInterrupted() (int, error) {
	unlock, err := s.lock()
	if err != nil {
		return 0, err
	}
	defer unlock()
	ids, err := s.ids()
	if err != nil {
		return 0, err
	}
	n := 0
	for _, id := range ids {
		e, err := readEntry(s.entryDir(id))
		if err != nil || e.Result != Running {
			continue
		}
		f, err := os.OpenFile(filepath.Join(s.entryDir(id), runningLock), os.O_CREATE|os.O_RDWR, 0o600)
		if err != nil {
			return n, fmt.Errorf("history: mark interrupted: %w", err)
		}
		busy := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil
		f.Close()
		if busy {
			continue
		}
		e.Result, e.Message = Interrupted, "carto-setup stopped before this "+string(e.Action)+" ended; its files were not recorded"
		if err := writeEntry(s.entryDir(id), e); err != nil {
			return n, fmt.Errorf("history: mark interrupted: %w", err)
		}
		os.Remove(filepath.Join(s.entryDir(id), runningLock))
		n++
	}
	return n, nil
}

// List returns the kept entries, newest first. An entry whose record
// cannot be read is an error: the history is small and must be whole.
func (s *Store) List() ([]Entry, error) {
	unlock, err := s.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	return s.list()
}

func (s *Store) list() ([]Entry, error) {
	ids, err := s.ids()
	if err != nil {
		return nil, err
	}
	var out []Entry
	for _, id := range slices.Backward(ids) {
		e, err := readEntry(s.entryDir(id))
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

// Get returns one entry.
func (s *Store) Get(id int) (Entry, error) {
	unlock, err := s.lock()
	if err != nil {
		return Entry{}, err
	}
	defer unlock()
	return s.get(id)
}

func (s *Store) get(id int) (Entry, error) {
	e, err := readEntry(s.entryDir(id))
	if errors.Is(err, fs.ErrNotExist) {
		return Entry{}, fmt.Errorf("%w: %d", ErrNotFound, id)
	}
	return e, err
}

// Installed returns the newest entry that succeeded: the install, upgrade
// or restore whose release and files are the ones in place. ok is false
// when nothing succeeded yet.
func (s *Store) Installed() (e Entry, ok bool, err error) {
	unlock, err := s.lock()
	if err != nil {
		return Entry{}, false, err
	}
	defer unlock()
	return s.installed()
}

func (s *Store) installed() (Entry, bool, error) {
	entries, err := s.list()
	if err != nil {
		return Entry{}, false, err
	}
	for _, e := range entries {
		if e.Result == Succeeded {
			return e, true, nil
		}
	}
	return Entry{}, false, nil
}

// ReleaseFiles returns the copies of the release's own files (VERSION,
// MIN_VERSION, env.tpl, docker-compose.yml) the entry kept, by name, for
// upgrade.ReleaseFromFiles.
func (s *Store) ReleaseFiles(id int) (map[string][]byte, error) {
	unlock, err := s.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	if _, err := s.get(id); err != nil {
		return nil, err
	}
	out := map[string][]byte{}
	for _, name := range releaseFiles {
		b, err := os.ReadFile(filepath.Join(s.entryDir(id), releaseDir, name))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("history: release files of %d: %w", id, err)
		}
		out[name] = b
	}
	return out, nil
}

// keepTracked copies the tracked files of releaseDir under dst and returns
// their hashes, sizes and modes, and the tracked paths that are not
// regular files (not kept).
func keepTracked(releaseDir, dst string) (map[string]File, []string, error) {
	files := map[string]File{}
	if err := os.MkdirAll(dst, 0o700); err != nil {
		return nil, nil, err
	}
	skipped, err := walkTracked(releaseDir, func(rel, path string, fi fs.FileInfo) error {
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if err := writeKept(filepath.Join(dst, filepath.FromSlash(rel)), b); err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		files[rel] = File{SHA256: hex.EncodeToString(sum[:]), Size: int64(len(b)), Mode: uint32(fi.Mode().Perm())}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return files, skipped, nil
}

// walkTracked calls fn for every tracked regular file of releaseDir, with
// its path relative to releaseDir (slashes) and its full path, and returns
// the tracked paths that are not regular files.
func walkTracked(releaseDir string, fn func(rel, path string, fi fs.FileInfo) error) ([]string, error) {
	var skipped []string
	visit := func(rel string) error {
		path := filepath.Join(releaseDir, filepath.FromSlash(rel))
		fi, err := os.Lstat(path)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		if !fi.Mode().IsRegular() {
			skipped = append(skipped, rel)
			return nil
		}
		return fn(rel, path, fi)
	}
	for _, name := range TrackedFiles {
		if err := visit(name); err != nil {
			return nil, err
		}
	}
	certs := filepath.Join(releaseDir, TrackedDir)
	err := filepath.WalkDir(certs, func(path string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) && path == certs {
			return filepath.SkipDir
		}
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(releaseDir, path)
		rel = filepath.ToSlash(rel)
		switch {
		case path == certs && !d.IsDir():
			skipped = append(skipped, rel)
		case d.IsDir():
		default:
			return visit(rel)
		}
		return nil
	})
	return skipped, err
}

// writeKept writes a kept copy owner-only.
func writeKept(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	return atomicfile.WriteFile(path, data, 0o600)
}

func writeEntry(dir string, e Entry) error {
	b, err := json.MarshalIndent(e, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(dir, entryFile), append(b, '\n'), 0o600)
}

func readEntry(dir string) (Entry, error) {
	b, err := os.ReadFile(filepath.Join(dir, entryFile))
	if err != nil {
		return Entry{}, fmt.Errorf("history: read %s: %w", filepath.Base(dir), err)
	}
	var e Entry
	if err := json.Unmarshal(b, &e); err != nil {
		return Entry{}, fmt.Errorf("history: decode %s: %w", filepath.Base(dir), err)
	}
	return e, nil
}

// trimVersion reads a VERSION file as install.sh does.
func trimVersion(b []byte) string {
	return strings.TrimSpace(strings.ReplaceAll(string(b), `"`, ""))
}
