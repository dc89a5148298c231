package bundle

import (
	"bytes"
	"encoding/json"
	"regexp"
	"slices"
	"strings"
)

// Mask is what replaces a secret.
const Mask = "****"

// minSecret is the shortest exact value masked: shorter ones ("1", "yes")
// would garble every file while hiding nothing.
const minSecret = 4

// minNamedSecret is the shortest value masked only because its key's name
// looks secret, as in deploy.
const minNamedSecret = 8

// Secret is a value to mask wherever it appears, with what it is for the
// report ("database admin password"). The report never holds the value.
type Secret struct {
	What  string
	Value string
}

// form is one spelling of a secret: the value itself, one line of a
// multi-line value (logs are written line by line), or the value as it
// appears inside JSON text.
type form struct {
	what  string
	value []byte
}

// forms expands secrets into every spelling to search for, longest first so
// that a long secret is counted once and not as its parts.
func forms(secrets []Secret) []form {
	var out []form
	seen := map[string]bool{}
	add := func(what, v string) {
		if len(v) < minSecret || seen[v] {
			return
		}
		seen[v] = true
		out = append(out, form{what: what, value: []byte(v)})
	}
	for _, s := range secrets {
		add(s.What, s.Value)
		if esc, err := json.Marshal(s.Value); err == nil {
			add(s.What, strings.Trim(string(esc), `"`))
		}
		if strings.Contains(s.Value, "\n") {
			for line := range strings.SplitSeq(s.Value, "\n") {
				line = strings.TrimSpace(line)
				if len(line) >= 16 && !strings.HasPrefix(line, "-----") {
					add(s.What, line)
				}
			}
		}
	}
	slices.SortStableFunc(out, func(a, b form) int { return len(b.value) - len(a.value) })
	return out
}

// privateKeyRE matches a PEM private key, also inside JSON text where its
// newlines are written \n.
var privateKeyRE = regexp.MustCompile(`(?s)-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----`)

// assignmentRE matches an env-file assignment, active or commented out.
var assignmentRE = regexp.MustCompile(`^(\s*(?:#\s*)?(?:export\s+)?)([A-Za-z_][A-Za-z0-9_]*)(\s*=\s*)(.*)$`)

// LooksSecret reports whether a key's name says it holds a secret:
// *PASSWORD*, *SECRET*, *TOKEN*, *KEY* or *CREDENTIAL*, except keys that
// name a file.
func LooksSecret(key string) bool {
	k := strings.ToUpper(key)
	if strings.HasSuffix(k, "_PATH") || strings.HasSuffix(k, "FILENAME") || strings.HasSuffix(k, "_FILE") {
		return false
	}
	for _, w := range []string{"PASSWORD", "PASSWD", "SECRET", "TOKEN", "KEY", "CREDENTIAL"} {
		if strings.Contains(k, w) {
			return true
		}
	}
	return false
}

// maskable says whether an env value is worth masking by key name: not
// empty, not a file path, not CARTO's placeholder, not masked already.
func maskable(v string, minLen int) bool {
	v = strings.Trim(strings.TrimSpace(v), `"'`)
	return len(v) >= minLen && v != Mask && !strings.Contains(v, "<FILL_ME>") &&
		!strings.HasPrefix(v, "/") && !strings.HasPrefix(v, "./") && !strings.HasPrefix(v, "../")
}

// EnvSecrets returns the values of the secret-looking keys of an env file,
// to be masked wherever they appear (a container may log one).
func EnvSecrets(data []byte) []Secret {
	var out []Secret
	for line := range strings.SplitSeq(string(data), "\n") {
		sm := assignmentRE.FindStringSubmatch(strings.TrimRight(line, "\r"))
		if sm == nil || !LooksSecret(sm[2]) || !maskable(sm[4], minNamedSecret) {
			continue
		}
		out = append(out, Secret{What: "value of " + sm[2], Value: strings.Trim(strings.TrimSpace(sm[4]), `"'`)})
	}
	return out
}

// redact masks data: every spelling of every secret, then (in an env file)
// the value of every secret-looking key, then any PEM private key left. It
// returns the masked data and the count of masks by what was masked.
func redact(data []byte, fs []form, env bool) ([]byte, map[string]int) {
	counts := map[string]int{}
	covered := make([]bool, len(data))
	for _, f := range fs {
		for start := 0; ; {
			i := bytes.Index(data[start:], f.value)
			if i < 0 {
				break
			}
			i += start
			end := i + len(f.value)
			if slices.Contains(covered[i:end], false) {
				counts[f.what]++
				for j := i; j < end; j++ {
					covered[j] = true
				}
			}
			start = i + 1
		}
	}
	var out []byte
	for i := 0; i < len(data); {
		if !covered[i] {
			out = append(out, data[i])
			i++
			continue
		}
		for i < len(data) && covered[i] {
			i++
		}
		out = append(out, Mask...)
	}
	if env {
		lines := strings.Split(string(out), "\n")
		for i, line := range lines {
			sm := assignmentRE.FindStringSubmatch(strings.TrimRight(line, "\r"))
			if sm == nil || !LooksSecret(sm[2]) || !maskable(sm[4], 1) {
				continue
			}
			lines[i] = sm[1] + sm[2] + sm[3] + Mask
			counts["value of "+sm[2]]++
		}
		out = []byte(strings.Join(lines, "\n"))
	}
	out = privateKeyRE.ReplaceAllFunc(out, func([]byte) []byte {
		counts["private key (PEM block)"]++
		return []byte(Mask)
	})
	return out, counts
}
