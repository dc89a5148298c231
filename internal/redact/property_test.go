package redact_test

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/carto-setup/carto-setup/internal/redact"
	"github.com/carto-setup/carto-setup/internal/redact/redacttest"
)

// TestPropertyNoLeak feeds random hostile secrets through the redactor
// itself, line by line (Mask), as whole texts (Text) and as a stream cut at
// random points (LineWriter): no secret shows, whatever its shape.
func TestPropertyNoLeak(t *testing.T) {
	t.Parallel()
	const cases = 5000
	seed := rand.Uint64()
	g := redacttest.New(seed)
	shapes := map[string]int{}
	for c := range cases {
		var secrets []string
		for range 1 + g.Intn(4) {
			secrets = append(secrets, g.Secret())
		}
		for _, s := range secrets {
			shapes[shape(s)]++
		}
		r := redact.New(redact.Values(secrets...))
		var lines []string
		for _, s := range secrets {
			lines = append(lines, g.Carriers(s)...)
		}
		var masked strings.Builder
		for _, l := range lines {
			masked.WriteString(r.MaskString(l) + "\n")
		}
		text, _ := r.Text([]byte(strings.Join(lines, "\n")))
		var stream strings.Builder
		w := redact.NewLineWriter(&stream, r)
		all := strings.Join(lines, "\n") + "\n"
		for i := 0; i < len(all); {
			n := 1 + g.Intn(40)
			w.Write([]byte(all[i:min(i+n, len(all))]))
			i += n
		}
		w.Flush()
		for name, out := range map[string]string{"Mask": masked.String(), "Text": string(text), "LineWriter": stream.String()} {
			if leaked := redacttest.Shown(out, secrets); leaked != nil {
				t.Fatalf("seed %d case %d: %s shows %q:\n%s", seed, c, name, leaked, out)
			}
		}
	}
	t.Logf("seed %d: %d cases, secret shapes %v", seed, cases, shapes)
}

// shape names the kind of a generated secret, for the log.
func shape(s string) string {
	switch {
	case strings.Contains(s, "private_key"):
		return "key.json"
	case strings.Contains(s, "PRIVATE KEY"):
		return "PEM"
	case len(s) < redact.ShortLen:
		return "short"
	case strings.HasPrefix(s, "../"), strings.HasPrefix(s, "./"), strings.HasPrefix(s, "/"):
		return "path-like"
	}
	return fmt.Sprintf("%d-%d bytes", len(s)/8*8, len(s)/8*8+7)
}
