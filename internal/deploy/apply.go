package deploy

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/carto-setup/carto-setup/internal/atomicfile"
	"github.com/carto-setup/carto-setup/internal/fileaccess"
)

// BackupLayout is the time layout of a backup's suffix, in UTC:
// customer.env.bak-20261122T071500.
const BackupLayout = "20060102T150405"

// ConflictError is returned by Apply while the plan has open conflicts:
// nothing was written.
type ConflictError struct {
	Conflicts []Conflict
}

// Error lists the conflicts.
func (e *ConflictError) Error() string {
	var parts []string
	for _, c := range e.Conflicts {
		parts = append(parts, c.String())
	}
	return fmt.Sprintf("deploy: %d hand edit(s) conflict with the install and must be resolved first: %s", len(e.Conflicts), strings.Join(parts, "; "))
}

// ErrChangedSinceReview is returned by Apply when a file changed on disk
// after the plan read it: nothing was written, and a new plan must be made
// so that the change is merged rather than overwritten.
var ErrChangedSinceReview = errors.New("deploy: a file changed on disk since the plan was made; plan again")

// ApplyOptions are what Apply needs besides the plan.
type ApplyOptions struct {
	// Now names the backups; the zero time means time.Now.
	Now time.Time
	// Users are the users the services run as (from their images); the
	// files a service reads are given read access for its user. A
	// service missing here gets no access, and files no known service
	// reads stay owner-only.
	Users map[string]fileaccess.User
	// Granter sets the access; nil means the default (POSIX ACLs, then
	// the group fallback).
	Granter *fileaccess.Granter
}

// ApplyWith writes the plan's files into its release directory, certs/
// with mode 0700 and every file atomically with mode 0600, then gives each
// file the services that read it read access for their users (and certs/
// search access), nobody else. It writes nothing while the plan has open
// conflicts (*ConflictError) or when a file changed since the plan read
// it (ErrChangedSinceReview). A file whose content is already what the
// plan says is not rewritten and keeps its modification time; a file the
// admin chose to keep is not written. Before a file is replaced, its
// previous content is kept as <file>.bak-<now in UTC as BackupLayout>
// (mode 0600) when the plan says so (customer.env whenever it changes, a
// hand-edited .env or certificate). Once every file is in place, the
// record of what was written is saved under the plan's state directory.
func ApplyWith(p Plan, opts ApplyOptions) error {
	if p.dir == "" {
		return errors.New("deploy: apply: empty plan")
	}
	if open := p.report.Open(); len(open) > 0 {
		return &ConflictError{Conflicts: open}
	}
	now := opts.Now
	if now.IsZero() {
		now = time.Now()
	}
	// Nothing is written unless every file is as the plan saw it (or
	// already as it would write it: the same plan applied again).
	current := make([][]byte, len(p.files))
	for i, f := range p.files {
		cur, err := readOptional(p.dir, f.rel)
		if err != nil {
			return fmt.Errorf("deploy: apply: %w", err)
		}
		seen := (cur == nil && f.disk == "") || (cur != nil && sha(cur) == f.disk)
		if !seen && !bytes.Equal(cur, f.data) {
			return fmt.Errorf("%w (%s)", ErrChangedSinceReview, f.rel)
		}
		current[i] = cur
	}
	certs := filepath.Join(p.dir, CertsDir)
	if err := os.MkdirAll(certs, DirPerm); err != nil {
		return fmt.Errorf("deploy: apply: %w", err)
	}
	granter := opts.Granter
	if granter == nil {
		granter = &fileaccess.Granter{}
	}
	rec := p.record
	rec.At = now.UTC()
	rec.Files = map[string]RecordedFile{}
	var dirReaders []fileaccess.User
	for i, f := range p.files {
		cur := current[i]
		written := f.data
		switch {
		case f.action == FileKeep:
			written = cur
		case cur != nil && bytes.Equal(cur, f.data):
		default:
			if cur != nil && f.backup {
				if err := backup(p.dir, f.rel, cur, now); err != nil {
					return err
				}
			}
			if err := atomicfile.WriteFile(filepath.Join(p.dir, f.rel), f.data, FilePerm); err != nil {
				return fmt.Errorf("deploy: apply: %w", err)
			}
		}
		readers := usersOf(f.readers, opts.Users)
		if err := grantFile(p.dir, f.rel, readers, granter); err != nil {
			return fmt.Errorf("deploy: apply: %w", err)
		}
		if strings.HasPrefix(f.rel, CertsDir+string(filepath.Separator)) {
			for _, u := range readers {
				if !slices.Contains(dirReaders, u) {
					dirReaders = append(dirReaders, u)
				}
			}
		}
		rf := RecordedFile{SHA256: sha(written), Size: len(written), Readers: readers}
		if f.action == FileKeep {
			rf.Declined = sha(f.data)
		}
		rec.Files[f.rel] = rf
	}
	if _, err := granter.Grant(certs, true, dirReaders); err != nil {
		return fmt.Errorf("deploy: apply: %w", err)
	}
	if p.stateDir != "" {
		if err := saveRecord(p.stateDir, rec); err != nil {
			return err
		}
	}
	return nil
}

// backup keeps data as a timestamped copy of the file rel. A backup of the
// same second with the same content is reused; a different one gets a
// numbered name.
func backup(dir, rel string, data []byte, now time.Time) error {
	name := rel + ".bak-" + now.UTC().Format(BackupLayout)
	for i := 1; ; i++ {
		candidate := name
		if i > 1 {
			candidate += "-" + strconv.Itoa(i)
		}
		path := filepath.Join(dir, candidate)
		cur, err := os.ReadFile(path)
		if err == nil {
			if bytes.Equal(cur, data) {
				return nil
			}
			continue
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("deploy: apply: back up %s: %w", rel, err)
		}
		if err := atomicfile.WriteFile(path, data, FilePerm); err != nil {
			return fmt.Errorf("deploy: apply: back up %s: %w", rel, err)
		}
		return nil
	}
}
