package envfile

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// workPerByte is the most work the parser may do per input byte: a byte
// inside MaxNesting levels of ${...} is scanned by each level's search for
// its closing brace and for $, plus a handful of passes at the top level.
const workPerByte = 2*MaxNesting + 12

// workBound is the step budget for an input of n bytes.
func workBound(n int) int { return workPerByte*n + 64 }

// nested returns A=${A:-${A:-...x...}} with depth levels.
func nested(depth int) string {
	return "A=" + strings.Repeat("${A:-", depth) + "x" + strings.Repeat("}", depth) + "\n"
}

// doubling returns lines that each repeat the previous value twice, the
// shape that makes interpolation output exponential in the line count.
func doubling(lines int) string {
	var b strings.Builder
	b.WriteString("V0=0123456789abcdef\n")
	for i := 1; i <= lines; i++ {
		fmt.Fprintf(&b, "V%d=$V%d$V%d\n", i, i-1, i-1)
	}
	return b.String()
}

// realistic returns a customer.env-like file of about size bytes: comments,
// bare, single- and double-quoted values and a few references.
func realistic(size int) string {
	var b strings.Builder
	b.WriteString("# customer package\nSELFHOSTED_DOMAIN=carto.example.com\n")
	for i := 0; b.Len() < size; i++ {
		fmt.Fprintf(&b, "# setting %d\nKEY_%d=value-%d\nSECRET_%d='s3cr#t %d'\nURL_%d=\"https://${SELFHOSTED_DOMAIN}/p/%d\" # inline\n", i, i, i, i, i, i, i)
	}
	return b.String()
}

func TestParseLimits(t *testing.T) {
	tests := []struct {
		name, in string
		wantErr  string // "" means the file parses
		wantA    string
	}{
		{"nesting at the limit", nested(MaxNesting), "", "x"},
		{"nesting beyond the limit", nested(MaxNesting + 1), fmt.Sprintf("line 1: ${...} is nested more than %d deep", MaxNesting), ""},
		{"nesting in double quotes", `A="` + strings.Repeat("${A:-", MaxNesting+1) + strings.Repeat("}", MaxNesting+1) + `"`, "nested more than", ""},
		{"doubling lines", doubling(40), "expand to more than", ""},
		{"many references to a long value", "L='" + strings.Repeat("x", 100<<10) + "'\n" + strings.Repeat("B=$L\n", 20), "expand to more than", ""},
		{"a few doublings are fine", doubling(8), "", ""},
		{"invalid UTF-8 names the line", "A=1\nB=caf\xe9\n", "line 2: invalid UTF-8 at byte 6 of the line", ""},
		{"invalid UTF-8 in a comment", "# \xff\nA=1\n", "line 1: invalid UTF-8", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Parse([]byte(tt.in))
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				if tt.wantA != "" {
					if got, _ := f.Get("A"); got != tt.wantA {
						t.Errorf("A = %q, want %q", got, tt.wantA)
					}
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Parse error = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestCheckUTF8(t *testing.T) {
	if err := CheckUTF8([]byte("A=café\n")); err != nil {
		t.Fatalf("valid UTF-8 refused: %v", err)
	}
	err := CheckUTF8([]byte("A=1\r\n\r\nB=\xc3\x28\n"))
	var e *InvalidUTF8Error
	if !errors.As(err, &e) || e.Line != 3 || e.Column != 3 {
		t.Fatalf("CheckUTF8 = %#v, want line 3 column 3", err)
	}
}

// TestHostileUploadIsLinear replays the adversarial uploads of issue 20 at
// their full size (588 KB of nested ${A:-...}, the doubling file, a file of
// unclosed braces) and asserts, by counting the parser's steps rather than
// timing it, that each is refused within the linear budget.
func TestHostileUploadIsLinear(t *testing.T) {
	const size = 588 << 10
	depth := (size - 4) / len("${A:-}")
	inputs := []struct {
		name    string
		in      string
		refused bool
	}{
		{"nested", nested(depth), true},
		{"doubling", doubling(size / 20), true},
		{"unclosed", "A=" + strings.Repeat("${A:-", depth) + "\n", true},
		// The deepest nesting allowed, filled with siblings: accepted, and
		// the costliest shape per byte.
		{"nested siblings", "A=" + strings.Repeat("${A:-", MaxNesting-1) + strings.Repeat("${A}", size/4) + strings.Repeat("}", MaxNesting-1) + "\n", false},
	}
	for _, tc := range inputs {
		name, in := tc.name, tc.in
		t.Run(name, func(t *testing.T) {
			m := newMeter(len(in))
			_, _, _, err := parseMetered([]byte(in), m)
			if tc.refused != (err != nil) {
				t.Fatalf("refused = %v, want %v", err, tc.refused)
			}
			if m.steps > workBound(len(in)) {
				t.Fatalf("%d steps for %d bytes, over the budget of %d per byte", m.steps, len(in), workPerByte)
			}
			t.Logf("%s: %d bytes, %d steps (%.1f per byte), %v", name, len(in), m.steps, float64(m.steps)/float64(len(in)), err)
		})
	}
}

// FuzzParseLinear asserts the parser's budget on arbitrary input: the steps
// it counts stay within workPerByte per byte, and the values it keeps are
// no bigger than the input plus the interpolation output it accounted for
// (so no expansion escapes the count).
func FuzzParseLinear(f *testing.F) {
	for _, s := range []string{
		nested(3), nested(MaxNesting + 2), doubling(5), realistic(300),
		"A=${A:-{}}${A:+${B-${C?x}}}\n", "A=\"${A:-\\\"}\"\n", "export A=$$$A${A}\n",
		"A='x' B=\"y\" C=z #c\n", "\uFEFFA: 1\r\n", "A=${A:-${A:-${A:-", "A=caf\xe9",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		m := newMeter(len(src))
		_, _, vals, err := parseMetered(src, m)
		if m.steps > workBound(len(src)) {
			t.Fatalf("%d steps for %d bytes (budget %d per byte)", m.steps, len(src), workPerByte)
		}
		if err != nil {
			return
		}
		kept := 0
		for k, v := range vals {
			kept += len(k) + len(v)
		}
		if kept > len(src)+m.out {
			t.Fatalf("values hold %d bytes, more than the input (%d) plus the counted expansion (%d)", kept, len(src), m.out)
		}
		if m.out > m.maxOut {
			t.Fatalf("expansion produced %d bytes, over the bound %d", m.out, m.maxOut)
		}
	})
}

// BenchmarkParseScaling parses inputs growing 10x at a time and reports the
// cost per byte at each size and its ratio to the smallest size: a linear
// parser keeps the ratios near 1 (the adversarial shapes are refused, so
// their cost per byte may even fall). Run with -bench ParseScaling.
func BenchmarkParseScaling(b *testing.B) {
	shapes := map[string]func(size int) string{
		"realistic": realistic,
		"nested": func(size int) string {
			return nested(size / len("${A:-}"))
		},
		"doubling": func(size int) string { return doubling(size / 12) },
		"references": func(size int) string {
			return "L=" + strings.Repeat("x", 64) + "\n" + strings.Repeat("B=$L${L}\n", size/9)
		},
	}
	sizes := []int{6 << 10, 60 << 10, 600 << 10}
	for name, gen := range shapes {
		b.Run(name, func(b *testing.B) {
			inputs := make([][]byte, len(sizes))
			for i, n := range sizes {
				inputs[i] = []byte(gen(n))
			}
			perByte := make([]float64, len(sizes))
			steps := make([]float64, len(sizes))
			for b.Loop() {
				for i, in := range inputs {
					start := time.Now()
					m := newMeter(len(in))
					parseMetered(in, m)
					perByte[i] += float64(time.Since(start).Nanoseconds()) / float64(len(in))
					steps[i] = float64(m.steps) / float64(len(in))
				}
			}
			for i, n := range sizes {
				label := fmt.Sprintf("%dK", n>>10)
				b.ReportMetric(perByte[i]/float64(b.N), "ns/B@"+label)
				b.ReportMetric(steps[i], "steps/B@"+label)
				if i > 0 {
					b.ReportMetric(perByte[i]/perByte[0], "ratio@"+label)
				}
			}
		})
	}
}
