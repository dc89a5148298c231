package logstream

import (
	"testing"
)

func TestMasker(t *testing.T) {
	tests := []struct {
		name    string
		secrets []string
		in      string
		want    string
	}{
		{"no secret", []string{"hunter22"}, "nothing to see", "nothing to see"},
		{"one occurrence", []string{"hunter22"}, "password=hunter22 ok", "password=**** ok"},
		{"several occurrences", []string{"hunter22"}, "hunter22/hunter22", "****/****"},
		{"short values ignored", []string{"abc", "", "1"}, "abc 1 abc", "abc 1 abc"},
		{"exactly the minimum", []string{"abcd"}, "xabcdx", "x****x"},
		{"substring of another secret", []string{"pass", "password1"}, "password1 pass passw", "**** **** ****w"},
		{"overlapping secrets", []string{"abcdef", "defghi"}, "xabcdefghix", "x****x"},
		{"overlapping occurrences of one secret", []string{"aaaa"}, "aaaaaa-aaaa", "****-****"},
		{"duplicates", []string{"s3cret!", "s3cret!"}, "is s3cret!", "is ****"},
		{"multibyte", []string{"clé-secrète"}, "→clé-secrète←", "→****←"},
		{"empty line", []string{"hunter22"}, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := NewMasker(tt.secrets)
			if got := string(m.Mask([]byte(tt.in))); got != tt.want {
				t.Errorf("Mask(%q) = %q, want %q", tt.in, got, tt.want)
			}
			if got := m.MaskString(tt.in); got != tt.want {
				t.Errorf("MaskString(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestNilMasker(t *testing.T) {
	var m *Masker
	if got := string(m.Mask([]byte("hunter22"))); got != "hunter22" {
		t.Errorf("nil Masker changed the line: %q", got)
	}
}

func TestMaskerNoMatchDoesNotAllocate(t *testing.T) {
	m := NewMasker([]string{"alpha-secret", "beta-secret", "gamma-secret", "delta-secret", "0123456789abcdef"})
	line := []byte(`{"level":"info","msg":"request served","path":"/api/v1/maps","status":200,"ms":12}`)
	if n := testing.AllocsPerRun(100, func() { m.Mask(line) }); n != 0 {
		t.Errorf("Mask allocated %v times on a clean line", n)
	}
}
