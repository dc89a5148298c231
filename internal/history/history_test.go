package history

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/carto-setup/carto-setup/internal/demo/release"
	"github.com/carto-setup/carto-setup/internal/upgrade"
)

// clock is a test clock that moves a second per call.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Second)
	return c.t
}

func newStore(t *testing.T) *Store {
	t.Helper()
	c := &clock{t: time.Date(2026, 7, 20, 9, 0, 0, 0, time.UTC)}
	s, err := Open(filepath.Join(t.TempDir(), "state", "history"), c.now)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// writeFiles writes files (path -> content) into dir with the install's
// modes: 0600 files, 0700 certs/.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for rel, text := range files {
		p := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// snapshotDir returns every tracked file of dir with its content and mode.
func snapshotDir(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	_, err := walkTracked(dir, func(rel, path string, fi fs.FileInfo) error {
		b, err := os.ReadFile(path)
		out[rel] = fi.Mode().Perm().String() + " " + string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func sum(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

var (
	installed = map[string]string{
		"customer.env":      "SELFHOSTED_DOMAIN=carto.example.com\nCARTO_SELFHOSTED_CUSTOMER_PACKAGE_VERSION=2026.7.1\n",
		"key.json":          `{"type":"service_account"}`,
		".env":              "SELFHOSTED_DOMAIN=carto.example.com\nCARTO_SELFHOSTED_VERSION=2026.7.16\n",
		"certs/key.json":    `{"type":"service_account"}`,
		"certs/router.crt":  "-----BEGIN CERTIFICATE-----\nold\n",
		"certs/private/a.k": "nested",
	}
	upgraded = map[string]string{
		"customer.env":     "SELFHOSTED_DOMAIN=carto.example.com\nCARTO_SELFHOSTED_CUSTOMER_PACKAGE_VERSION=2026.8.11\n",
		".env":             "SELFHOSTED_DOMAIN=carto.example.com\nCARTO_SELFHOSTED_VERSION=2026.8.11\n",
		"certs/router.crt": "-----BEGIN CERTIFICATE-----\nnew\n",
		"certs/extra.crt":  "added by the upgrade",
	}
)

// installAndUpgrade records an install of the older stand-in release and
// an upgrade to the newer with a backup, writing the files as they would.
func installAndUpgrade(t *testing.T, s *Store, dir string) (Entry, Entry) {
	t.Helper()
	if err := release.WriteOlder(dir, ""); err != nil {
		t.Fatal(err)
	}
	rec, err := s.Begin(Start{Action: Install, Origin: Wizard, ReleaseDir: dir, Release: release.OlderVersion,
		Commit: "1111111111111111111111111111111111111111", PackageVersion: release.OlderPackageVersion})
	if err != nil {
		t.Fatal(err)
	}
	writeFiles(t, dir, installed)
	first, err := rec.Finish(Succeeded, "installed")
	if err != nil {
		t.Fatal(err)
	}
	if err := release.Write(dir, release.NewerVersion); err != nil {
		t.Fatal(err)
	}
	rec, err = s.Begin(Start{Action: Upgrade, Origin: CommandLine, ReleaseDir: dir, Release: release.NewerVersion,
		PackageVersion: release.SamplePackageVersion, FromRelease: release.OlderVersion})
	if err != nil {
		t.Fatal(err)
	}
	if err := rec.SetBackup(Backup{Path: "/backups/carto-2026.7.16.dump", Size: 1234, SHA256: sum("dump"), Method: "host", Verified: "pg_restore --list and a scratch restore"}); err != nil {
		t.Fatal(err)
	}
	writeFiles(t, dir, upgraded)
	os.Chmod(filepath.Join(dir, "key.json"), 0o640) // a hand change of mode
	second, err := rec.Finish(Succeeded, "upgraded")
	if err != nil {
		t.Fatal(err)
	}
	return first, second
}

// TestRecord checks what an entry holds: the files it replaced and the
// files it left with their hashes and modes, the release's own files, the
// backup, and owner-only modes throughout the history.
func TestRecord(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	dir := t.TempDir()
	first, second := installAndUpgrade(t, s, dir)

	if first.ID != 1 || second.ID != 2 || first.Action != Install || second.Action != Upgrade || first.Origin != Wizard || second.Origin != CommandLine {
		t.Fatalf("entries %+v\n%+v", first, second)
	}
	if len(first.Replaced) != 0 {
		t.Errorf("the first install replaced %v", first.Replaced)
	}
	if len(first.Files) != len(installed) {
		t.Errorf("first install files %v", first.Files)
	}
	for rel, text := range installed {
		if f := first.Files[rel]; f.SHA256 != sum(text) || f.Size != int64(len(text)) || f.Mode != 0o600 {
			t.Errorf("install %s: %+v", rel, f)
		}
	}
	// The upgrade replaced exactly what the install left.
	if !maps.Equal(second.Replaced, first.Files) {
		t.Errorf("upgrade replaced %v\nwant %v", second.Replaced, first.Files)
	}
	if f := second.Files["certs/extra.crt"]; f.SHA256 != sum(upgraded["certs/extra.crt"]) {
		t.Errorf("upgrade: extra.crt %+v", f)
	}
	if f := second.Files["key.json"]; f.Mode != 0o640 {
		t.Errorf("the mode of key.json was not recorded: %o", f.Mode)
	}
	if second.Backup == nil || second.Backup.Path != "/backups/carto-2026.7.16.dump" || second.FromRelease != release.OlderVersion {
		t.Errorf("upgrade backup %+v from %q", second.Backup, second.FromRelease)
	}
	if second.Ended == nil || !second.Ended.After(second.Time) {
		t.Errorf("times %v %v", second.Time, second.Ended)
	}
	got, err := s.Get(2)
	if err != nil || got.Message != "upgraded" || got.Result != Succeeded {
		t.Errorf("Get(2) = %+v, %v", got, err)
	}
	if _, err := s.Get(7); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get(7): %v", err)
	}
	if e, ok, err := s.Installed(); err != nil || !ok || e.ID != 2 {
		t.Errorf("Installed = %d %v %v", e.ID, ok, err)
	}

	// The release files each entry installed, for a later plan.
	for id, want := range map[int]string{1: release.OlderVersion, 2: release.NewerVersion} {
		files, err := s.ReleaseFiles(id)
		if err != nil {
			t.Fatal(err)
		}
		r, err := upgrade.ReleaseFromFiles(files)
		if err != nil || r.Version != want {
			t.Errorf("entry %d release: %q %v", id, r.Version, err)
		}
	}

	err = filepath.WalkDir(s.dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, _ := d.Info()
		want := fs.FileMode(0o600)
		if d.IsDir() {
			want = 0o700
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s has mode %o, want %o", path, fi.Mode().Perm(), want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestReleaseFileNamesMatchUpgrade(t *testing.T) {
	if !slices.Equal(releaseFiles, upgrade.ReleaseFiles) {
		t.Errorf("history keeps %v, upgrade reads %v", releaseFiles, upgrade.ReleaseFiles)
	}
}

// TestJSONContract decodes `history --json` strictly into the documented
// shape: exactly the seven keys, newest first, files as path -> sha256.
func TestJSONContract(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	installAndUpgrade(t, s, t.TempDir())
	entries, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	b, err := JSON(entries)
	if err != nil {
		t.Fatal(err)
	}
	var out struct {
		Entries []struct {
			ID             int               `json:"id"`
			Time           time.Time         `json:"time"`
			Action         string            `json:"action"`
			Release        string            `json:"release"`
			PackageVersion string            `json:"package_version"`
			Result         string            `json:"result"`
			Files          map[string]string `json:"files"`
		} `json:"entries"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&out); err != nil {
		t.Fatalf("not the documented shape: %v\n%s", err, b)
	}
	if len(out.Entries) != 2 || out.Entries[0].ID != 2 || out.Entries[1].ID != 1 {
		t.Fatalf("entries not newest first: %s", b)
	}
	e := out.Entries[0]
	if e.Action != "upgrade" || e.Release != release.NewerVersion || e.PackageVersion != release.SamplePackageVersion ||
		e.Result != "succeeded" || e.Time.IsZero() || e.Files["certs/extra.crt"] != sum(upgraded["certs/extra.crt"]) {
		t.Errorf("newest entry %+v", e)
	}
	var keys []map[string]json.RawMessage
	var raw struct{ Entries []map[string]json.RawMessage }
	json.Unmarshal(b, &raw)
	keys = raw.Entries
	for _, k := range keys {
		if len(k) != 7 {
			t.Errorf("an entry has %d keys, want 7: %v", len(k), k)
		}
	}
	if b, _ := JSON(nil); string(b) != "{\n  \"entries\": []\n}\n" {
		t.Errorf("empty history: %q", b)
	}
}

func TestRetention(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	dir := t.TempDir()
	for i := range Keep + 3 {
		rec, err := s.Begin(Start{Action: Install, Origin: CommandLine, ReleaseDir: dir, Release: "2026.7.16"})
		if err != nil {
			t.Fatal(err)
		}
		writeFiles(t, dir, map[string]string{"customer.env": strings.Repeat("x", i)})
		if _, err := rec.Finish(Succeeded, ""); err != nil {
			t.Fatal(err)
		}
	}
	entries, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	var ids []int
	for _, e := range entries {
		ids = append(ids, e.ID)
	}
	if want := []int{13, 12, 11, 10, 9, 8, 7, 6, 5, 4}; !slices.Equal(ids, want) {
		t.Errorf("kept %v, want %v", ids, want)
	}
	for _, gone := range []int{1, 2, 3} {
		if _, err := os.Stat(s.entryDir(gone)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("entry %d still on disk: %v", gone, err)
		}
	}
}

// TestRestore restores the first install after the upgrade: every file
// comes back byte for byte with its mode, the file the upgrade added goes,
// what the restore replaced is kept in its own entry, the plan says it goes
// back across releases and names the upgrade's backup, and a damaged copy
// is refused.
func TestRestore(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	dir := t.TempDir()
	_, second := installAndUpgrade(t, s, dir)
	before := snapshotDir(t, dir)

	p, err := s.PlanRestore(1, dir)
	if err != nil {
		t.Fatal(err)
	}
	if !p.CrossRelease || p.Installed != release.NewerVersion || p.CheckedOut != release.NewerVersion ||
		p.BackupEntry != 2 || p.Backup == nil || p.Backup.Path != second.Backup.Path {
		t.Errorf("plan: cross %v installed %q checked out %q backup entry %d %+v", p.CrossRelease, p.Installed, p.CheckedOut, p.BackupEntry, p.Backup)
	}
	if !slices.Equal(p.Removes, []string{"certs/extra.crt"}) {
		t.Errorf("removes %v", p.Removes)
	}
	unchanged := map[string]bool{}
	for _, w := range p.Writes {
		if string(w.Data) != installed[w.Path] {
			t.Errorf("plan writes %s with other content", w.Path)
		}
		unchanged[w.Path] = w.Unchanged
	}
	if !unchanged["certs/key.json"] || unchanged["customer.env"] || len(p.Writes) != len(installed) {
		t.Errorf("unchanged %v", unchanged)
	}
	if !maps.Equal(snapshotDir(t, dir), before) {
		t.Fatal("planning wrote something")
	}

	rec, err := s.Restore(p, Wizard)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for rel, text := range installed {
		want[rel] = "-rw------- " + text
	}
	if got := snapshotDir(t, dir); !maps.Equal(got, want) {
		t.Errorf("restored files:\n%v\nwant:\n%v", got, want)
	}
	third, err := rec.Finish(Succeeded, "restored entry 1")
	if err != nil {
		t.Fatal(err)
	}
	if third.Action != Restore || third.RestoredFrom != 1 || third.Release != release.OlderVersion || !maps.Equal(third.Files, mustGet(t, s, 1).Files) {
		t.Errorf("restore entry %+v", third)
	}
	if !maps.Equal(third.Replaced, second.Files) {
		t.Errorf("the restore did not keep what it replaced: %v", third.Replaced)
	}
	// The replaced copies are byte for byte what the upgrade left.
	for rel, text := range before {
		kept, err := os.ReadFile(filepath.Join(s.entryDir(3), replacedDir, filepath.FromSlash(rel)))
		if err != nil || !strings.HasSuffix(text, " "+string(kept)) {
			t.Errorf("replaced copy of %s: %q %v", rel, kept, err)
		}
	}
	// After the restore the installed release is the older one again.
	if p, err := s.PlanRestore(1, dir); err != nil || p.CrossRelease || len(p.Removes) != 0 {
		t.Errorf("restoring entry 1 again: cross %v removes %v %v", p.CrossRelease, p.Removes, err)
	} else {
		for _, w := range p.Writes {
			if !w.Unchanged {
				t.Errorf("%s would change", w.Path)
			}
		}
	}

	// A damaged kept copy is refused.
	os.WriteFile(filepath.Join(s.entryDir(2), filesDir, "customer.env"), []byte("tampered"), 0o600)
	if _, err := s.PlanRestore(2, dir); err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Errorf("damaged copy: %v", err)
	}
}

func mustGet(t *testing.T, s *Store, id int) Entry {
	t.Helper()
	e, err := s.Get(id)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestSkipsWhatIsNotAFile(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"certs/a.crt": "a"})
	os.Symlink("/etc/passwd", filepath.Join(dir, "certs", "link.crt"))
	rec, err := s.Begin(Start{Action: Install, Origin: Wizard, ReleaseDir: dir, Release: "2026.7.16"})
	if err != nil {
		t.Fatal(err)
	}
	e, err := rec.Finish(Failed, "compose failed")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(e.Skipped, []string{"certs/link.crt"}) || len(e.Files) != 1 || e.Result != Failed {
		t.Errorf("entry %+v", e)
	}
	if _, err := rec.Finish(Succeeded, ""); err == nil {
		t.Error("a second Finish succeeded")
	}
}

func TestConcurrentBegins(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	dir := t.TempDir()
	var wg sync.WaitGroup
	ids := make(chan int, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rec, err := s.Begin(Start{Action: Install, Origin: Wizard, ReleaseDir: dir})
			if err != nil {
				t.Error(err)
				return
			}
			rec.Finish(Succeeded, "")
			ids <- rec.ID()
		}()
	}
	wg.Wait()
	close(ids)
	var got []int
	for id := range ids {
		got = append(got, id)
	}
	slices.Sort(got)
	if !slices.Equal(got, []int{1, 2, 3, 4, 5, 6, 7, 8}) {
		t.Errorf("ids %v", got)
	}
}

// TestInterrupted kills a process in the middle of an install it is
// recording: MarkInterrupted ends that entry, and leaves alone one this
// process is still recording.
func TestInterrupted(t *testing.T) {
	if dir := os.Getenv("CARTO_SETUP_HISTORY_CHILD"); dir != "" {
		s, err := Open(dir, time.Now)
		if err != nil {
			panic(err)
		}
		if _, err := s.Begin(Start{Action: Upgrade, Origin: CommandLine, ReleaseDir: t.TempDir()}); err != nil {
			panic(err)
		}
		os.Stdout.WriteString("begun\n")
		time.Sleep(time.Minute)
		return
	}
	t.Parallel()
	s := newStore(t)
	live, err := s.Begin(Start{Action: Install, Origin: Wizard, ReleaseDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestInterrupted$")
	cmd.Env = append(os.Environ(), "CARTO_SETUP_HISTORY_CHILD="+s.dir)
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if sc := bufio.NewScanner(out); !sc.Scan() || sc.Text() != "begun" {
		t.Fatalf("the child did not begin: %q", sc.Text())
	}
	// While the child lives, its entry is not interrupted.
	if n, err := s.MarkInterrupted(); n != 0 || err != nil {
		t.Fatalf("marked %d (%v) while both record", n, err)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	if n, err := s.MarkInterrupted(); n != 1 || err != nil {
		t.Fatalf("marked %d, %v; want 1", n, err)
	}
	if e := mustGet(t, s, 2); e.Result != Interrupted || !strings.Contains(e.Message, "stopped before this upgrade ended") {
		t.Errorf("child's entry %+v", e)
	}
	if e := mustGet(t, s, 1); e.Result != Running {
		t.Errorf("the live entry became %s", e.Result)
	}
	if _, err := s.PlanRestore(2, t.TempDir()); err == nil {
		t.Error("an interrupted entry can be restored")
	}
	if _, err := live.Finish(Succeeded, ""); err != nil {
		t.Fatal(err)
	}
}

// TestOpenCreatesNothingUntilAWrite: a command that reads the history and
// then refuses (apply after the checkout moved) leaves the state directory
// as it was.
func TestOpenCreatesNothingUntilAWrite(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "history")
	s, err := Open(dir, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	if es, err := s.List(); err != nil || len(es) != 0 {
		t.Fatalf("List = %v, %v; want nothing", es, err)
	}
	if _, ok, err := s.Installed(); ok || err != nil {
		t.Fatalf("Installed = %v, %v; want none", ok, err)
	}
	if n, err := s.MarkInterrupted(); n != 0 || err != nil {
		t.Fatalf("MarkInterrupted = %d, %v", n, err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the history directory exists after reads only: %v", err)
	}
	rel := t.TempDir()
	if _, err := s.Begin(Start{Action: Install, Origin: CommandLine, ReleaseDir: rel, Release: "2026.8.11"}); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("after Begin: %v, %v; want a 0700 directory", fi, err)
	}
}
