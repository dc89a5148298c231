package answers

import (
	"fmt"
	"reflect"
	"strings"

	"go.yaml.in/yaml/v3"
)

var fileType = reflect.TypeFor[File]()

// walk checks node against t the way a strict decoder would, but names the
// field's path in every problem, which yaml's own errors (a line number and
// a Go type) do not: unknown keys, keys given twice, wrong types, and
// secrets given inline.
func walk(n *yaml.Node, t reflect.Type, path string, errs *Error) {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return // "section:" with nothing under it is as good as absent
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			errs.add(orRoot(path), "want a mapping of keys to values, got %s", describe(n))
			return
		}
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			key, val := n.Content[i], n.Content[i+1]
			p := join(path, key.Value)
			if seen[key.Value] {
				errs.add(p, "given twice")
				continue
			}
			seen[key.Value] = true
			f, ok := fieldByTag(t, key.Value)
			switch {
			case ok:
				walk(val, f.Type, p, errs)
			case hasField(t, key.Value+"_env"):
				errs.add(p, "a secret is never given inline: put it in a file and give %s_file (its path), or in an environment variable and give %s_env (its name)", key.Value, key.Value)
			default:
				errs.add(p, "unknown field%s", known(t))
			}
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			errs.add(path, "want a list, got %s", describe(n))
			return
		}
		for i, c := range n.Content {
			walk(c, t.Elem(), fmt.Sprintf("%s[%d]", path, i), errs)
		}
	default:
		if n.Kind != yaml.ScalarNode {
			errs.add(path, "want %s, got %s", kindName(t), describe(n))
			return
		}
		if err := n.Decode(reflect.New(t).Interface()); err != nil {
			errs.add(path, "want %s, got %q", kindName(t), n.Value)
		}
	}
}

func fieldByTag(t reflect.Type, key string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		if name, _, _ := strings.Cut(f.Tag.Get("yaml"), ","); name == key {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

func hasField(t reflect.Type, key string) bool {
	_, ok := fieldByTag(t, key)
	return ok
}

// known lists the keys a mapping accepts, for the unknown-field message.
func known(t reflect.Type) string {
	var names []string
	for i := range t.NumField() {
		if f := t.Field(i); f.IsExported() {
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			names = append(names, name)
		}
	}
	return "; known fields here: " + strings.Join(names, ", ")
}

func kindName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int64, reflect.Int32:
		return "a whole number"
	case reflect.String:
		return "a string"
	}
	return t.String()
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return fmt.Sprintf("%q", n.Value)
	}
	return "something else"
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func orRoot(path string) string {
	if path == "" {
		return "(file)"
	}
	return path
}
