package logline

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestRoundTrip(t *testing.T) {
	opts := []Options{{}, {Size: 1000, ANSI: true}, {Size: 300, UTF8: true}, {Size: 500, ANSI: true, UTF8: true}, {Size: 20000, JSON: true}, {Size: 64, JSON: true, ANSI: true}}
	for _, o := range opts {
		for seq := range uint64(200) {
			p := Payload(seq, o)
			if !utf8.ValidString(p) {
				t.Fatalf("%+v seq %d: invalid UTF-8", o, seq)
			}
			want := max(o.Size, 100)
			if o.Size > 0 {
				want = o.Size
			}
			if len(p) > want || len(p) < want-16 {
				t.Errorf("%+v seq %d: %d bytes, want about %d", o, seq, len(p), want)
			}
			// Escapes are never cut: every ESC is followed by its final 'm'.
			for i := strings.IndexByte(p, 0x1b); i >= 0; {
				if !strings.Contains(p[i:], "m") {
					t.Fatalf("%+v seq %d: escape cut at the end: %q", o, seq, p[i:])
				}
				n := strings.IndexByte(p[i+1:], 0x1b)
				if n < 0 {
					break
				}
				i += 1 + n
			}
			line := string(AppendData(nil, seq, 1234567890123, 42, p))
			got, ok := Parse(strings.TrimSuffix(line, "\n") + "\r")
			if !ok || got.Kind != Data || got.Seq != seq || got.EmitNS != 1234567890123 || got.Run != 42 || got.Payload != p {
				t.Fatalf("parse(%q) = %+v, %v", line, got, ok)
			}
		}
	}
	if l, ok := Parse(strings.TrimSuffix(EndLine(7, 99), "\n")); !ok || l.Kind != End || l.Run != 7 || l.Count != 99 {
		t.Errorf("end line: %+v %v", l, ok)
	}
	if l, ok := Parse(strings.TrimSuffix(ReadyLine(7), "\n")); !ok || l.Kind != Ready || l.Run != 7 {
		t.Errorf("ready line: %+v %v", l, ok)
	}
	if _, ok := Parse("hello world"); ok {
		t.Error("parsed a foreign line")
	}
}
