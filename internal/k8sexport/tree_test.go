package k8sexport

import (
	"testing"
	"unicode/utf8"
)

func TestVerifyYAMLCatchesDifferences(t *testing.T) {
	t.Parallel()
	want := map[string]any{"a": map[string]any{"b": "x"}, "n": 1}
	for _, doc := range []string{
		"a:\n  b: x\nn: 1\nevil: injected\n", // an added key
		"a:\n  b: y\nn: 1\n",                 // a changed value
		"a:\n  b: x\nn: \"1\"\n",             // a retyped scalar
		"a:\n  b: x\nn: 1\n---\nc: 2\n",      // a second document
		"a: [\n",                             // not YAML
	} {
		if err := verifyYAML([]byte(doc), want); err == nil {
			t.Errorf("verifyYAML accepted %q", doc)
		}
	}
	if err := verifyYAML([]byte("a:\n  b: x\nn: 1\n"), want); err != nil {
		t.Errorf("verifyYAML refused the right document: %v", err)
	}
}

// FuzzEncodeHostile: whatever string a value holds, the encoded file either
// reads back as built (encode checks it) or the export fails; for valid
// UTF-8 it must not fail, since every answer is UTF-8 text.
func FuzzEncodeHostile(f *testing.F) {
	for _, s := range []string{hostile("seed"), "", "true", "null", "0755", "- item", "a: b", "|\n x", "  lead", "trail  \n", "\t", "\x00", "\ufeff", "\x1b[0m", "\u2028", "#"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tr := newTree()
		tr.set("a.b", s)
		tr.set("a.list", []string{s, "x"})
		tr.set("c", "after")
		_, err := tr.encode("header")
		if err != nil && utf8.ValidString(s) {
			t.Fatalf("encode %q: %v", s, err)
		}
	})
}
