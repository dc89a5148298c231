package history

import (
	"encoding/json"
	"time"
)

// Action is what an entry records.
type Action string

// The actions.
const (
	Install Action = "install"
	Upgrade Action = "upgrade"
	Restore Action = "restore"
)

// Origin is how an action was started.
type Origin string

// The origins.
const (
	Wizard      Origin = "wizard"
	CommandLine Origin = "command-line"
)

// Result is how an action ended.
type Result string

// The results. Running is an action in progress; Interrupted one whose
// process ended before it could say how it went (MarkInterrupted).
const (
	Running     Result = "running"
	Succeeded   Result = "succeeded"
	Failed      Result = "failed"
	Interrupted Result = "interrupted"
)

// File is one file of the release directory as an entry saw it.
type File struct {
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
	Mode   uint32 `json:"mode"` // permission bits
}

// Backup is the database backup taken before an upgrade, or the reason the
// admin typed for relying on a snapshot of a managed service instead.
type Backup struct {
	Path     string `json:"path,omitempty"`
	Size     int64  `json:"size,omitempty"`
	SHA256   string `json:"sha256,omitempty"`
	Method   string `json:"method,omitempty"`   // where pg_dump ran: host or container
	Verified string `json:"verified,omitempty"` // how it was checked
	// SnapshotReason is set instead of the rest when no dump was possible
	// and the admin confirmed a snapshot of the managed database.
	SnapshotReason string `json:"snapshot_reason,omitempty"`
}

// Entry is one recorded action. Files are the files of the release
// directory when the action ended (for a failed action too: what it left),
// Replaced those it found when it began; both keyed by path relative to the
// release directory, with slashes.
type Entry struct {
	ID             int             `json:"id"`
	Time           time.Time       `json:"time"`
	Ended          *time.Time      `json:"ended,omitempty"`
	Action         Action          `json:"action"`
	Origin         Origin          `json:"origin"`
	Release        string          `json:"release"`
	Commit         string          `json:"commit,omitempty"`
	PackageVersion string          `json:"package_version"`
	FromRelease    string          `json:"from_release,omitempty"`  // an upgrade's installed release
	RestoredFrom   int             `json:"restored_from,omitempty"` // a restore's source entry
	Result         Result          `json:"result"`
	Message        string          `json:"message,omitempty"`
	Files          map[string]File `json:"files"`
	Replaced       map[string]File `json:"replaced"`
	Skipped        []string        `json:"skipped,omitempty"` // not regular files, not kept
	Backup         *Backup         `json:"backup,omitempty"`
}

// listEntry is the shape of `carto-setup history --json`, a contract:
// exactly these keys, files as path -> sha256.
type listEntry struct {
	ID             int               `json:"id"`
	Time           time.Time         `json:"time"`
	Action         Action            `json:"action"`
	Release        string            `json:"release"`
	PackageVersion string            `json:"package_version"`
	Result         Result            `json:"result"`
	Files          map[string]string `json:"files"`
}

// JSON returns entries in the shape of `carto-setup history --json`:
// {"entries": [{"id", "time", "action", "release", "package_version",
// "result", "files": {path: sha256}}]}, in the order given (List gives
// newest first), indented, with a final newline.
func JSON(entries []Entry) ([]byte, error) {
	out := struct {
		Entries []listEntry `json:"entries"`
	}{Entries: []listEntry{}}
	for _, e := range entries {
		files := map[string]string{}
		for p, f := range e.Files {
			files[p] = f.SHA256
		}
		out.Entries = append(out.Entries, listEntry{ID: e.ID, Time: e.Time, Action: e.Action, Release: e.Release,
			PackageVersion: e.PackageVersion, Result: e.Result, Files: files})
	}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}
