package envfile

import (
	"strings"
	"testing"
)

func TestExpand(t *testing.T) {
	f, err := Parse([]byte("BASE=gcr.io/carto\nVERSION=2026.8.11\nEMPTY=\nSCALE=0\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ in, want string }{
		{"${BASE}/maps-api:${VERSION}", "gcr.io/carto/maps-api:2026.8.11"},
		{"$BASE/x", "gcr.io/carto/x"},
		{"${EMPTY:-1}", "1"},
		{"${EMPTY-1}", ""},
		{"${UNSET-2}", "2"},
		{"${SCALE:+on}", "on"},
		{"$$BASE", "$BASE"},
		{"no variable", "no variable"},
		{"${UNSET}", ""},
		{`a\nb`, `a\nb`}, // no escape decoding
	} {
		got, err := f.Expand(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("Expand(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"${", "${UNSET:?must be set}", "${" + strings.Repeat("A:-${", MaxNesting+1) + "}"} {
		if got, err := f.Expand(bad); err == nil {
			t.Errorf("Expand(%q) = %q, want an error", bad, got)
		}
	}
}
