package deploy

import (
	"fmt"
	"slices"
	"strings"

	"github.com/carto-setup/carto-setup/internal/envfile"
	"github.com/carto-setup/carto-setup/internal/redact"
)

// Resolution settles a Conflict.
type Resolution string

// KeepMine keeps the value on disk (the admin's hand edit); TakeWizard
// takes what carto-setup proposes: the wizard's value for a
// ConflictWizard, the new package's for a ConflictPackage, the file the
// install would write for a ConflictFile.
const (
	KeepMine   Resolution = "mine"
	TakeWizard Resolution = "wizard"
)

// ConflictKind says what a hand edit conflicts with.
type ConflictKind string

// The kinds of conflicts: a customer.env key the wizard sets was edited by
// hand to another value; a key a newer customer package changes was
// edited by hand to another value; a file carto-setup writes (a
// certificate, a key, key.json) was replaced by hand.
const (
	ConflictWizard  ConflictKind = "wizard"
	ConflictPackage ConflictKind = "package"
	ConflictFile    ConflictKind = "file"
)

// Conflict is a hand edit the plan will not override on its own: "you set
// Key by hand to Hand; the wizard has Proposed". Values are for display,
// secrets masked; HandSet or ProposedSet false means the key is not set
// (removed or commented out) on that side. For a ConflictFile, Key is the
// file's path relative to the release directory and the values are empty.
type Conflict struct {
	Kind        ConflictKind `json:"kind"`
	Key         string       `json:"key"`
	Hand        string       `json:"hand,omitempty"`
	HandSet     bool         `json:"hand_set"`
	Proposed    string       `json:"proposed,omitempty"`
	ProposedSet bool         `json:"proposed_set"`
	// Resolution is "" while the conflict is open.
	Resolution Resolution `json:"resolution,omitempty"`
}

// String says the conflict in a sentence, for logs and the headless apply.
func (c Conflict) String() string {
	side := func(set bool, v string) string {
		if !set {
			return "unset"
		}
		return v
	}
	switch c.Kind {
	case ConflictFile:
		return c.Key + " was replaced by hand since carto-setup wrote it"
	case ConflictPackage:
		return fmt.Sprintf("you set %s by hand to %s; the new customer package has %s", c.Key, side(c.HandSet, c.Hand), side(c.ProposedSet, c.Proposed))
	}
	return fmt.Sprintf("you set %s by hand to %s; the wizard has %s", c.Key, side(c.HandSet, c.Hand), side(c.ProposedSet, c.Proposed))
}

// KeyChange is one customer.env key that changed, for display: From and
// To are "" when the key is not set on that side, secrets masked.
type KeyChange struct {
	Key  string             `json:"key"`
	Kind envfile.ChangeKind `json:"change"`
	From string             `json:"from,omitempty"`
	To   string             `json:"to,omitempty"`
}

// FileAction is what an install does to one file.
type FileAction string

// Create a missing file, update one whose content differs, leave an
// identical one alone (not even its modification time changes), or keep
// a hand-replaced one because the admin chose to.
const (
	FileCreate    FileAction = "create"
	FileUpdate    FileAction = "update"
	FileUnchanged FileAction = "unchanged"
	FileKeep      FileAction = "keep"
)

// FileChange is one file of the plan and what applying it does.
type FileChange struct {
	Path   string     `json:"path"`
	Action FileAction `json:"action"`
	Secret bool       `json:"secret"`
	// HandEdited: the file differs from what carto-setup last wrote.
	HandEdited bool `json:"hand_edited,omitempty"`
	// Backup: the current file is first kept as <path>.bak-<time>.
	Backup bool `json:"backup,omitempty"`
	// Readers are the services whose containers read the file; they get
	// read access to it, nobody else.
	Readers []string `json:"readers,omitempty"`
}

// Restart is a service that Compose will not recreate but that must
// restart because a file it reads changes.
type Restart struct {
	Service string   `json:"service"`
	Files   []string `json:"files"`
}

// Report is everything the Review page and `apply --json` show about a
// plan besides the diff: the hand edits kept, the open and settled
// conflicts, what a newer customer package changed, what the wizard
// overwrote without a record to tell hand edits from earlier answers,
// every file and what happens to it, the services to restart, the keys
// env.tpl overrides, and notices (line endings normalised, .env edited by
// hand, ...). Every value in it is safe to show.
type Report struct {
	KeptEdits       []KeyChange  `json:"kept_edits"`
	Conflicts       []Conflict   `json:"conflicts"`
	PackageChanges  []KeyChange  `json:"package_changes"`
	Overwritten     []KeyChange  `json:"overwritten"`
	Files           []FileChange `json:"files"`
	Restarts        []Restart    `json:"restarts"`
	EnvTplOverrides []string     `json:"env_tpl_overrides"`
	Notices         []string     `json:"notices"`
}

// display renders a value for the report: the masked form of a secret.
func display(key string, v envfile.Value, m *redact.Redactor) string {
	if !v.Set {
		return ""
	}
	if redact.SecretName(key) && v.Text != "" && !strings.Contains(v.Text, placeholderValue) {
		return redact.Mask
	}
	return m.MaskString(v.Text)
}

func keyChanges(cs []envfile.Change, m *redact.Redactor) []KeyChange {
	var out []KeyChange
	for _, c := range cs {
		out = append(out, KeyChange{Key: c.Key, Kind: c.Kind, From: display(c.Key, c.From, m), To: display(c.Key, c.To, m)})
	}
	return out
}

// Open returns the conflicts still to resolve.
func (r Report) Open() []Conflict {
	return slices.DeleteFunc(slices.Clone(r.Conflicts), func(c Conflict) bool { return c.Resolution != "" })
}
