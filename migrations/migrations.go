package migrations

import (
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"strconv"
)

//go:embed state
var embedded embed.FS

// Baseline is the first state format, and the oldest this carto-setup
// reads: every state file carto-setup has written carries "schema": 1 or
// later.
const Baseline = 1

// Migration is one numbered step: it brings a file of format Number-1 to
// format Number.
type Migration struct {
	Number      int
	Name        string
	Description string `json:"description"`
	Ops         []Op   `json:"ops"`
}

// NewerError is returned for a state file written by a newer carto-setup.
type NewerError struct {
	Schema, Latest int
}

func (e *NewerError) Error() string {
	return fmt.Sprintf("migrations: the state has schema %d, this carto-setup reads up to %d: use a newer carto-setup", e.Schema, e.Latest)
}

var fileRE = regexp.MustCompile(`^([0-9]{4})-[a-z0-9-]+\.json$`)

// All returns the embedded migrations in order.
func All() ([]Migration, error) { return load(embedded, "state") }

// Latest returns the state format after every embedded migration.
func Latest() int {
	all, err := All()
	if err != nil {
		// The migrations are part of the binary; TestEmbedded keeps
		// them loadable.
		panic(err)
	}
	return Baseline + len(all)
}

// load reads the migrations of dir in fsys: files named NNNN-name.json,
// numbered from Baseline+1 without a gap. Other files are ignored.
func load(fsys fs.FS, dir string) ([]Migration, error) {
	des, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	var out []Migration
	for _, de := range des {
		m := fileRE.FindStringSubmatch(de.Name())
		if m == nil || de.IsDir() {
			continue
		}
		b, err := fs.ReadFile(fsys, path.Join(dir, de.Name()))
		if err != nil {
			return nil, fmt.Errorf("migrations: %w", err)
		}
		var mig Migration
		if err := json.Unmarshal(b, &mig); err != nil {
			return nil, fmt.Errorf("migrations: %s: %w", de.Name(), err)
		}
		mig.Number, _ = strconv.Atoi(m[1])
		mig.Name = de.Name()
		for i, op := range mig.Ops {
			if err := op.check(); err != nil {
				return nil, fmt.Errorf("migrations: %s: op %d: %w", de.Name(), i+1, err)
			}
		}
		out = append(out, mig)
	}
	slices.SortFunc(out, func(a, b Migration) int { return a.Number - b.Number })
	for i, m := range out {
		if m.Number != Baseline+1+i {
			return nil, fmt.Errorf("migrations: %s: expected number %04d", m.Name, Baseline+1+i)
		}
	}
	return out, nil
}

// Apply brings a state file to Latest: it reads its "schema", applies in
// order the migrations numbered above it, and sets "schema" to Latest. It
// returns the file's bytes (unchanged when nothing applied) and the schema
// it had (a missing or zero schema counts as Baseline). A file from a newer
// carto-setup is a *NewerError; a file that is not a JSON object, or whose
// schema is not a whole number, is an error.
func Apply(raw []byte) ([]byte, int, error) {
	all, err := All()
	if err != nil {
		return nil, 0, err
	}
	return apply(raw, all)
}

func apply(raw []byte, all []Migration) ([]byte, int, error) {
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, 0, fmt.Errorf("migrations: the state is not a JSON object: %w", err)
	}
	// A missing or zero schema is format 1: the store of format 1 saved
	// whatever State its caller built, so a caller that replaced the
	// whole State wrote "schema": 0, and it read such files as its own.
	from := Baseline
	if v, present := doc["schema"]; present {
		n, ok := v.(float64)
		if !ok || n != float64(int(n)) || n < 0 {
			return nil, 0, fmt.Errorf("migrations: the state's schema %v is not a version number", v)
		}
		if n > 0 {
			from = int(n)
		}
	}
	latest := Baseline + len(all)
	if from > latest {
		return nil, from, &NewerError{Schema: from, Latest: latest}
	}
	if from == latest {
		return raw, from, nil
	}
	var root any = doc
	var err error
	for _, m := range all[from-Baseline:] {
		for i, op := range m.Ops {
			if root, err = op.apply(root); err != nil {
				return nil, from, fmt.Errorf("migrations: %s: op %d: %w", m.Name, i+1, err)
			}
		}
	}
	obj, ok := root.(map[string]any)
	if !ok {
		return nil, from, errors.New("migrations: a migration replaced the state object")
	}
	obj["schema"] = latest
	out, err := json.MarshalIndent(obj, "", "  ")
	if err != nil {
		return nil, from, fmt.Errorf("migrations: encode: %w", err)
	}
	return out, from, nil
}
