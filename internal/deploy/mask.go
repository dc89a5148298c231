package deploy

import (
	"encoding/json"
	"regexp"
	"strings"

	"github.com/carto-setup/carto-setup/internal/envfile"
	"github.com/carto-setup/carto-setup/internal/logstream"
	"github.com/carto-setup/carto-setup/internal/wizard"
)

// minNamedSecret is the shortest value masked only because its key's name
// looks secret. Shorter values ("true", "1") would garble every log line
// while hiding nothing.
const minNamedSecret = 8

// secretValues returns every value to mask by exact match: what the admin
// entered (State.Secrets), the private keys inside the service-account
// files, each line of a multi-line secret (logs and diffs are masked line by
// line, so a PEM key would otherwise never match), and the values of
// secret-looking keys in the generated customer.env, which include the
// package's own internal secrets.
func secretValues(st wizard.State, customerEnv *envfile.File) []string {
	var out []string
	add := func(s string) {
		if s == "" {
			return
		}
		out = append(out, s)
		if !strings.Contains(s, "\n") {
			return
		}
		for line := range strings.SplitSeq(s, "\n") {
			line = strings.TrimSpace(line)
			if len(line) >= 16 && !strings.HasPrefix(line, "-----") {
				out = append(out, line)
			}
		}
	}
	for _, s := range st.Secrets() {
		add(s)
	}
	for _, doc := range []string{st.Package.KeyJSON, st.Buckets.GCSKeyJSON} {
		var key struct {
			PrivateKey   string `json:"private_key"`
			PrivateKeyID string `json:"private_key_id"`
		}
		if json.Unmarshal([]byte(doc), &key) == nil {
			add(key.PrivateKey)
			add(key.PrivateKeyID)
			// The key as it appears inside the JSON text, with \n escapes.
			if esc, err := json.Marshal(key.PrivateKey); err == nil && key.PrivateKey != "" {
				add(strings.Trim(string(esc), `"`))
			}
		}
	}
	if customerEnv != nil {
		for _, k := range customerEnv.Keys() {
			v, _ := customerEnv.Get(k)
			if looksSecret(k) && !isPathValue(v) && len(v) >= minNamedSecret && !strings.Contains(v, placeholderValue) {
				add(v)
			}
		}
	}
	return out
}

// looksSecret reports whether a key's name says it holds a secret:
// *PASSWORD*, *SECRET*, *TOKEN* or *KEY*, except the keys that name a file.
func looksSecret(key string) bool {
	k := strings.ToUpper(key)
	if strings.HasSuffix(k, "_PATH") || strings.HasSuffix(k, "FILENAME") || strings.HasSuffix(k, "_FILE") {
		return false
	}
	return strings.Contains(k, "PASSWORD") || strings.Contains(k, "SECRET") ||
		strings.Contains(k, "TOKEN") || strings.Contains(k, "KEY")
}

// isPathValue reports whether a value is a file path rather than a secret.
func isPathValue(v string) bool {
	v = strings.Trim(v, `"'`)
	return strings.HasPrefix(v, "/") || strings.HasPrefix(v, "./") || strings.HasPrefix(v, "../")
}

// assignmentRE matches an assignment line, active or commented out, with
// the key and the raw text after the separator.
var assignmentRE = regexp.MustCompile(`^(\s*(?:#\s*)?(?:export\s+)?)([A-Za-z_][A-Za-z0-9_]*)(\s*[=:]\s*)(.*)$`)

// maskLine hides secrets in one line of customer.env text: the value of a
// secret-looking key (unless it is empty, a placeholder or a path) and
// every known secret value wherever it appears.
func maskLine(line string, m *logstream.Masker) string {
	if sm := assignmentRE.FindStringSubmatch(line); sm != nil && looksSecret(sm[2]) {
		raw := strings.TrimSpace(sm[4])
		val := strings.Trim(raw, `"'`)
		if val != "" && !strings.Contains(val, placeholderValue) && !isPathValue(val) {
			line = sm[1] + sm[2] + sm[3] + logstream.MaskText
		}
	}
	return m.MaskString(line)
}
