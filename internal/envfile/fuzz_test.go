package envfile

import (
	"bytes"
	"maps"
	"strings"
	"testing"
)

// FuzzSetRoundTrip proves, for any file that parses and any key and value:
// parse -> Set -> Bytes -> Parse reads the value back, no other key changes
// or appears, and every byte outside the edited statement's lines stays
// where it was; a refused Set changes nothing.
func FuzzSetRoundTrip(f *testing.F) {
	seeds := []struct{ src, key, value string }{
		{"A=1\nB=2\n", "A", "x y"},
		{"# c\nA='1' # n\n", "A", "it's"},
		{"A=\"x\ny\"\nB=1", "A", `a\b"c`},
		{"#B=<FILL_ME>\nA=1\n", "B", "h"},
		{"A=1", "C", "$x"},
		{"export A=1\r\nA: 2\n", "A", "${x}"},
		{"A\nB=1\n", "A", "\n"},
		{"A='1' B=2\n", "B", "'"},
		{"A='x'#c\n", "A", "y"},
		{"", "K", ""},
	}
	for _, s := range seeds {
		f.Add([]byte(s.src), s.key, s.value)
	}
	f.Fuzz(func(t *testing.T, src []byte, key, value string) {
		file, err := Parse(src)
		if err != nil {
			return
		}
		before := file.Bytes()
		vals := maps.Clone(file.vals)
		a, b := target(file, key)
		err = file.Set(key, value)
		if err != nil {
			if !bytes.Equal(file.Bytes(), before) {
				t.Fatalf("refused Set changed the file: %v", err)
			}
			if strings.Contains(err.Error(), "this is a bug") {
				t.Fatalf("Set(%q, %q) refused a representable value: %v", key, value, err)
			}
			return
		}
		after := file.Bytes()
		again, err := Parse(after)
		if err != nil {
			t.Fatalf("written file does not parse: %v\n%q", err, after)
		}
		if got, ok := again.Get(key); !ok || got != value {
			t.Fatalf("Get(%q) = %q, %v after round trip, want %q", key, got, ok, value)
		}
		want := maps.Clone(vals)
		want[key] = value
		if !maps.Equal(want, again.vals) {
			t.Fatalf("values changed: before %q, after %q", vals, again.vals)
		}

		if bytes.Equal(before, after) {
			return
		}
		// The bytes that differ must lie within the lines of the target.
		p := 0
		for p < len(before) && p < len(after) && before[p] == after[p] {
			p++
		}
		s := 0
		for s < len(before)-p && s < len(after)-p && before[len(before)-1-s] == after[len(after)-1-s] {
			s++
		}
		if p < lineStart(before, a) || len(before)-s > lineEnd(before, b) {
			t.Fatalf("edit of %q reached outside its lines:\nbefore %q\nafter  %q", key, before, after)
		}
		added := bytes.Count(after[p:len(after)-s], []byte("\n"))
		if a == len(before) && b == a {
			if added > 2 {
				t.Fatalf("append added %d lines: %q", added, after)
			}
		} else if added > 0 {
			t.Fatalf("edit added a line break: %q", after)
		}
	})
}

// target is the byte range Set is expected to touch.
func target(f *File, key string) (int, int) {
	for i := len(f.stmts) - 1; i >= 0; i-- {
		if st := f.stmts[i]; st.key == key {
			return st.keyStart, st.end
		}
	}
	if ls, end, ok := f.commentedAssignment(key); ok {
		return ls, end
	}
	return len(f.src), len(f.src)
}

func lineEnd(src []byte, i int) int {
	if nl := bytes.IndexByte(src[i:], '\n'); nl >= 0 {
		return i + nl
	}
	return len(src)
}
