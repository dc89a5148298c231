package envfile

import (
	"bytes"
	"maps"
	"testing"
)

func TestNormalizeNewlines(t *testing.T) {
	in := []byte("# c\r\nA=1\r\nB='two words'\r\nC=\"x\" # n\r\nD=lone\rcr\n")
	if !HasCRLF(in) {
		t.Fatal("HasCRLF missed CR LF")
	}
	out, changed := NormalizeNewlines(in)
	if want := []byte("# c\nA=1\nB='two words'\nC=\"x\" # n\nD=lone\rcr\n"); !bytes.Equal(out, want) || !changed {
		t.Fatalf("NormalizeNewlines = %q, %v, want %q, true", out, changed, want)
	}
	if HasCRLF(out) {
		t.Fatal("HasCRLF true after normalising")
	}
	if !bytes.Contains(in, []byte("\r\n")) {
		t.Fatal("the input was modified")
	}
	// Single-line values read the same either way under Compose v2.
	before, err := Parse(in)
	if err != nil {
		t.Fatal(err)
	}
	after, err := Parse(out)
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(before.vals, after.vals) {
		t.Fatalf("values changed: %q -> %q", before.vals, after.vals)
	}
}

func TestNormalizeNewlinesDropsALeadingBOM(t *testing.T) {
	if got, changed := NormalizeNewlines([]byte("\uFEFFA=1\n")); string(got) != "A=1\n" || !changed {
		t.Fatalf("NormalizeNewlines = %q, %v", got, changed)
	}
	if got, changed := NormalizeNewlines([]byte("A=\uFEFF\n")); string(got) != "A=\uFEFF\n" || changed {
		t.Fatalf("NormalizeNewlines changed a BOM that is not leading: %q", got)
	}
	if _, changed := NormalizeNewlines([]byte("A=1\n")); changed {
		t.Fatal("an LF file reported as changed")
	}
}
