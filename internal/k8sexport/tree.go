package k8sexport

import (
	"bytes"
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// tree is an ordered YAML mapping under construction. Leaves are string,
// int, bool or []string; inner nodes are *tree. Keeping the values typed
// until the end lets the encoder tag every scalar explicitly, so a string
// such as "true", "0755" or "null" stays a string.
type tree struct {
	keys []string
	vals map[string]any
}

func newTree() *tree { return &tree{vals: map[string]any{}} }

// set stores v at the dotted path, creating the mappings on the way. Keys
// never contain dots: every path is a constant of this package.
func (t *tree) set(path string, v any) {
	parts := strings.Split(path, ".")
	cur := t
	for _, p := range parts[:len(parts)-1] {
		next, ok := cur.vals[p].(*tree)
		if !ok {
			if _, taken := cur.vals[p]; taken {
				panic("k8sexport: path " + path + " crosses a leaf")
			}
			next = newTree()
			cur.put(p, next)
		}
		cur = next
	}
	cur.put(parts[len(parts)-1], v)
}

func (t *tree) put(k string, v any) {
	if _, ok := t.vals[k]; !ok {
		t.keys = append(t.keys, k)
	}
	t.vals[k] = v
}

// node converts the tree to YAML nodes with every scalar tagged.
func (t *tree) node() *yaml.Node {
	m := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	for _, k := range t.keys {
		m.Content = append(m.Content, strNode(k), valueNode(t.vals[k]))
	}
	return m
}

func valueNode(v any) *yaml.Node {
	switch v := v.(type) {
	case *tree:
		return v.node()
	case string:
		return strNode(v)
	case int:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.Itoa(v)}
	case bool:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: strconv.FormatBool(v)}
	case []string:
		s := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
		for _, x := range v {
			s.Content = append(s.Content, strNode(x))
		}
		return s
	}
	panic(fmt.Sprintf("k8sexport: unsupported value %T", v))
}

// strNode tags the scalar as a string. Multi-line values (PEM, JSON keys)
// ask for a literal block so the files stay readable; the encoder falls back
// to a quoted style when the text cannot be a literal block, and encode
// checks the result either way.
func strNode(s string) *yaml.Node {
	n := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s}
	if strings.Contains(s, "\n") {
		n.Style = yaml.LiteralStyle
	}
	return n
}

// plain returns the tree as the Go values a YAML decoder yields, for
// comparing what was meant with what was written.
func (t *tree) plain() map[string]any {
	out := map[string]any{}
	for _, k := range t.keys {
		out[k] = plainValue(t.vals[k])
	}
	return out
}

func plainValue(v any) any {
	switch v := v.(type) {
	case *tree:
		return v.plain()
	case []string:
		out := make([]any, len(v))
		for i, s := range v {
			out[i] = s
		}
		return out
	}
	return v
}

// encode writes the tree as one YAML document with comment as its head, then
// decodes the bytes and compares them with the tree. A value that changed
// shape or content on the way (an injected key, a retyped scalar, a lost
// newline) makes encode fail rather than hand out a wrong file.
func (t *tree) encode(comment string) ([]byte, error) {
	doc := &yaml.Node{Kind: yaml.DocumentNode, HeadComment: comment, Content: []*yaml.Node{t.node()}}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return nil, fmt.Errorf("encode yaml: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("encode yaml: %w", err)
	}
	if err := verifyYAML(buf.Bytes(), t.plain()); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// verifyYAML decodes data as exactly one document and compares it with want.
func verifyYAML(data []byte, want map[string]any) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var got map[string]any
	if err := dec.Decode(&got); err != nil {
		return fmt.Errorf("check yaml: written file does not parse: %w", err)
	}
	var extra any
	if err := dec.Decode(&extra); err == nil {
		return fmt.Errorf("check yaml: written file holds more than one document")
	}
	if got == nil {
		got = map[string]any{}
	}
	if !reflect.DeepEqual(got, want) {
		return fmt.Errorf("check yaml: written file does not read back as built (%s)", firstDifference("", want, got))
	}
	return nil
}

// firstDifference names the first path where got differs from want, without
// printing either value: values may be secrets.
func firstDifference(prefix string, want, got any) string {
	wm, wok := want.(map[string]any)
	gm, gok := got.(map[string]any)
	if !wok || !gok {
		return "at " + strings.TrimPrefix(prefix, ".")
	}
	for k, wv := range wm {
		gv, ok := gm[k]
		if !ok {
			return "missing " + strings.TrimPrefix(prefix+"."+k, ".")
		}
		if !reflect.DeepEqual(wv, gv) {
			return firstDifference(prefix+"."+k, wv, gv)
		}
	}
	for k := range gm {
		if _, ok := wm[k]; !ok {
			return "unexpected " + strings.TrimPrefix(prefix+"."+k, ".")
		}
	}
	return "at " + strings.TrimPrefix(prefix, ".")
}

// scalars returns every scalar string of the tree (keys excluded), for the
// check that no secret reaches a shareable file.
func (t *tree) scalars() []string {
	var out []string
	for _, k := range t.keys {
		switch v := t.vals[k].(type) {
		case *tree:
			out = append(out, v.scalars()...)
		case string:
			out = append(out, v)
		case []string:
			out = append(out, v...)
		}
	}
	return out
}
