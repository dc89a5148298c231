package migrations

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
)

// Op is one change to the state's JSON. Path (and From) are JSON pointers
// (RFC 6901) in which the segment * stands for every member of an object
// or element of an array; move and copy take none. Every op skips what is
// absent.
//   - set: Path gets Value, creating missing parent objects.
//   - default: Path gets Value when it has none.
//   - remove: the member at Path goes.
//   - rename: the member at Path is renamed To in its object (an error if
//     To is taken).
//   - replace: Path gets New when its value equals Old.
//   - move, copy: the value at From goes (or is copied) to Path, creating
//     missing parents (an error if Path is taken).
type Op struct {
	Op    string          `json:"op"`
	Path  string          `json:"path"`
	From  string          `json:"from,omitempty"`
	To    string          `json:"to,omitempty"`
	Value json.RawMessage `json:"value,omitempty"`
	Old   json.RawMessage `json:"old,omitempty"`
	New   json.RawMessage `json:"new,omitempty"`
}

// check rejects an op that could never apply.
func (o Op) check() error {
	if !strings.HasPrefix(o.Path, "/") {
		return fmt.Errorf("path %q is not a JSON pointer", o.Path)
	}
	need := func(ok bool, what string) error {
		if !ok {
			return fmt.Errorf("%s needs %s", o.Op, what)
		}
		return nil
	}
	switch o.Op {
	case "set", "default":
		return need(len(o.Value) > 0, "a value")
	case "remove":
		return nil
	case "rename":
		return need(o.To != "" && !strings.Contains(o.To, "/"), "a new key in to")
	case "replace":
		return need(len(o.Old) > 0 && len(o.New) > 0, "old and new values")
	case "move", "copy":
		if !strings.HasPrefix(o.From, "/") {
			return fmt.Errorf("%s needs a JSON pointer in from", o.Op)
		}
		if slices.Contains(segments(o.From), "*") || slices.Contains(segments(o.Path), "*") {
			return fmt.Errorf("%s takes no * segment", o.Op)
		}
		return nil
	}
	return fmt.Errorf("unknown op %q", o.Op)
}

// segments splits a JSON pointer, unescaping ~1 and ~0.
func segments(pointer string) []string {
	parts := strings.Split(pointer, "/")[1:]
	for i, p := range parts {
		parts[i] = strings.ReplaceAll(strings.ReplaceAll(p, "~1", "/"), "~0", "~")
	}
	return parts
}

func decode(raw json.RawMessage) (any, error) {
	var v any
	err := json.Unmarshal(raw, &v)
	return v, err
}

// apply applies the op to root and returns the new root.
func (o Op) apply(root any) (any, error) {
	segs := segments(o.Path)
	switch o.Op {
	case "set", "default":
		return root, visit(root, segs, true, func(parent any, key string) error {
			if _, ok := get(parent, key); ok && o.Op == "default" {
				return nil
			}
			v, err := decode(o.Value)
			if err != nil {
				return err
			}
			return put(parent, key, v)
		})
	case "remove":
		return root, visit(root, segs, false, func(parent any, key string) error {
			if m, ok := parent.(map[string]any); ok {
				delete(m, key)
				return nil
			}
			return errors.New("remove works on object members only")
		})
	case "rename":
		return root, visit(root, segs, false, func(parent any, key string) error {
			m, ok := parent.(map[string]any)
			if !ok {
				return errors.New("rename works on object members only")
			}
			v, ok := m[key]
			if !ok {
				return nil
			}
			if _, taken := m[o.To]; taken {
				return fmt.Errorf("cannot rename %s to %s: %s is taken", key, o.To, o.To)
			}
			delete(m, key)
			m[o.To] = v
			return nil
		})
	case "replace":
		old, err := decode(o.Old)
		if err != nil {
			return root, err
		}
		return root, visit(root, segs, false, func(parent any, key string) error {
			if v, ok := get(parent, key); ok && reflect.DeepEqual(v, old) {
				nv, err := decode(o.New)
				if err != nil {
					return err
				}
				return put(parent, key, nv)
			}
			return nil
		})
	case "move", "copy":
		var val any
		found := false
		err := visit(root, segments(o.From), false, func(parent any, key string) error {
			val, found = get(parent, key)
			if found && o.Op == "move" {
				if m, ok := parent.(map[string]any); ok {
					delete(m, key)
				}
			}
			return nil
		})
		if err != nil || !found {
			return root, err
		}
		if o.Op == "copy" {
			b, _ := json.Marshal(val) // a deep copy
			json.Unmarshal(b, &val)
		}
		return root, visit(root, segs, true, func(parent any, key string) error {
			if _, taken := get(parent, key); taken {
				return fmt.Errorf("cannot %s %s to %s: it is taken", o.Op, o.From, o.Path)
			}
			return put(parent, key, val)
		})
	}
	return root, fmt.Errorf("unknown op %q", o.Op)
}

// visit calls fn with the container and key of every location segs
// matches in node. With create, missing objects on the way are made
// (never for a * segment, which only matches what exists).
func visit(node any, segs []string, create bool, fn func(parent any, key string) error) error {
	if len(segs) == 0 {
		return errors.New("the root cannot be changed")
	}
	key, rest := segs[0], segs[1:]
	if len(rest) == 0 {
		if key == "*" {
			for _, k := range keys(node) {
				if err := fn(node, k); err != nil {
					return err
				}
			}
			return nil
		}
		switch node.(type) {
		case map[string]any, []any:
			return fn(node, key)
		}
		return nil
	}
	var next []string
	if key == "*" {
		next = keys(node)
	} else {
		next = []string{key}
	}
	for _, k := range next {
		child, ok := get(node, k)
		if !ok && create && key != "*" {
			if m, isMap := node.(map[string]any); isMap {
				child = map[string]any{}
				m[k] = child
				ok = true
			}
		}
		if !ok {
			continue
		}
		if err := visit(child, rest, create, fn); err != nil {
			return err
		}
	}
	return nil
}

// keys returns the members of an object (sorted) or the indexes of an
// array.
func keys(node any) []string {
	switch n := node.(type) {
	case map[string]any:
		ks := make([]string, 0, len(n))
		for k := range n {
			ks = append(ks, k)
		}
		slices.Sort(ks)
		return ks
	case []any:
		ks := make([]string, len(n))
		for i := range n {
			ks[i] = strconv.Itoa(i)
		}
		return ks
	}
	return nil
}

func get(node any, key string) (any, bool) {
	switch n := node.(type) {
	case map[string]any:
		v, ok := n[key]
		return v, ok
	case []any:
		i, err := strconv.Atoi(key)
		if err != nil || i < 0 || i >= len(n) {
			return nil, false
		}
		return n[i], true
	}
	return nil, false
}

func put(node any, key string, v any) error {
	switch n := node.(type) {
	case map[string]any:
		n[key] = v
		return nil
	case []any:
		i, err := strconv.Atoi(key)
		if err != nil || i < 0 || i >= len(n) {
			return fmt.Errorf("no element %s in an array of %d", key, len(n))
		}
		n[i] = v
		return nil
	}
	return errors.New("not an object or array")
}
