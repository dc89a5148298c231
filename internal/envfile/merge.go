package envfile

import (
	"fmt"
)

// Value is what a file says about one key: assigned (Set) with its
// effective value Text, or not assigned at all. A key that only appears in
// a comment is not assigned.
type Value struct {
	Set  bool
	Text string
}

// ValueOf returns key's Value in f; a nil f assigns nothing.
func ValueOf(f *File, key string) Value {
	if f == nil {
		return Value{}
	}
	v, ok := f.Get(key)
	return Value{Set: ok, Text: v}
}

// Assign makes key read v: Set when v is assigned, Comment when it is not.
func (f *File) Assign(key string, v Value) error {
	if v.Set {
		return f.Set(key, v.Text)
	}
	return f.Comment(key)
}

// ChangeKind says how a key differs between two files.
type ChangeKind string

// A key was added (assigned only in the newer file), changed (assigned in
// both, to different values) or removed (assigned only in the older one).
const (
	Added   ChangeKind = "added"
	Changed ChangeKind = "changed"
	Removed ChangeKind = "removed"
)

// Change is one key that differs from one file to another.
type Change struct {
	Key      string
	Kind     ChangeKind
	From, To Value
}

// ChangeOf classifies the change of key from one Value to another; ok is
// false when they read the same.
func ChangeOf(key string, from, to Value) (Change, bool) {
	switch {
	case from == to:
		return Change{}, false
	case !from.Set:
		return Change{Key: key, Kind: Added, From: from, To: to}, true
	case !to.Set:
		return Change{Key: key, Kind: Removed, From: from, To: to}, true
	}
	return Change{Key: key, Kind: Changed, From: from, To: to}, true
}

// unionKeys returns the assigned keys of the files in order: those of the
// first file first, then keys only later files have. A nil file is skipped.
func unionKeys(files ...*File) []string {
	var keys []string
	seen := map[string]bool{}
	for _, f := range files {
		if f == nil {
			continue
		}
		for _, k := range f.Keys() {
			if !seen[k] {
				seen[k] = true
				keys = append(keys, k)
			}
		}
	}
	return keys
}

// Changes lists the keys whose Value differs from a to b, limited to the
// keys for which include returns true (nil includes every key), in the
// order of b's keys and then a's. Only values count: a key moved, requoted
// or given a comment reads the same and is not a change.
func Changes(a, b *File, include func(string) bool) []Change {
	var out []Change
	for _, k := range unionKeys(b, a) {
		if include != nil && !include(k) {
			continue
		}
		if c, ok := ChangeOf(k, ValueOf(a, k), ValueOf(b, k)); ok {
			out = append(out, c)
		}
	}
	return out
}

// Conflict is a key that both sides of a three-way merge changed from the
// base, to different values.
type Conflict struct {
	Key                string
	Base, Ours, Theirs Value
}

// MergeResult is what Merge did: the changes from base to theirs it
// brought into ours, the changes ours had made that it kept (theirs left
// the key as it was in base), and the conflicts. Every conflict that
// resolve did not settle left ours as it was for that key.
type MergeResult struct {
	Taken     []Change
	Kept      []Change
	Conflicts []Conflict
	// Resolved are the conflicts resolve settled; TakenTheirs says how.
	Resolved []Resolved
}

// Resolved is a conflict and how it was settled.
type Resolved struct {
	Conflict
	TookTheirs bool
}

// Merge is a three-way merge of key values into ours, in place. For every
// key for which include returns true (nil includes every key), with b, o
// and t its Values in base, ours and theirs: when o equals t nothing is to
// do; when t equals b, ours changed the key and keeps it (Kept); when o
// equals b, theirs changed it and ours takes the change (Taken, through
// Assign, so that ours keeps its comments, order and the form of every
// other line); otherwise both changed it and resolve decides: decided
// false leaves it a Conflict with ours unchanged, takeTheirs chooses the
// side. resolve may be nil (nothing is decided). Merge stops at the first
// value that cannot be written (see Set) and returns it as an error; ours
// then holds the changes made so far.
func Merge(base, ours, theirs *File, include func(string) bool, resolve func(Conflict) (decided, takeTheirs bool)) (MergeResult, error) {
	var res MergeResult
	for _, k := range unionKeys(theirs, ours, base) {
		if include != nil && !include(k) {
			continue
		}
		b, o, t := ValueOf(base, k), ValueOf(ours, k), ValueOf(theirs, k)
		switch {
		case o == t:
			continue
		case t == b:
			c, _ := ChangeOf(k, b, o)
			res.Kept = append(res.Kept, c)
			continue
		case o == b:
			if err := ours.Assign(k, t); err != nil {
				return res, fmt.Errorf("envfile: merge %s: %w", k, err)
			}
			c, _ := ChangeOf(k, b, t)
			res.Taken = append(res.Taken, c)
			continue
		}
		cf := Conflict{Key: k, Base: b, Ours: o, Theirs: t}
		decided, take := false, false
		if resolve != nil {
			decided, take = resolve(cf)
		}
		if !decided {
			res.Conflicts = append(res.Conflicts, cf)
			continue
		}
		if take {
			if err := ours.Assign(k, t); err != nil {
				return res, fmt.Errorf("envfile: merge %s: %w", k, err)
			}
		}
		res.Resolved = append(res.Resolved, Resolved{Conflict: cf, TookTheirs: take})
	}
	return res, nil
}
