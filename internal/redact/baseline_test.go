package redact_test

// The three masking engines that internal/redact replaced, kept verbatim
// (renamed) only as the baseline of the benchmarks, which print the new
// engine's speed as a ratio to theirs in the same run. Nothing else may use
// them.

import (
	"bytes"
	"encoding/json"
	"regexp"
	"slices"
	"strings"
)

// ---- internal/logstream/mask.go ----

// oldLogMinSecretLen is the shortest value a oldLogMasker masks. Shorter values (a port,
// "yes", a one-digit flag) would garble ordinary log text everywhere while
// hiding almost nothing, so they are ignored; real secrets are longer.
const oldLogMinSecretLen = 4

// oldLogMaskText is what a oldLogMasker writes in place of a secret.
const oldLogMaskText = "****"

// oldLogMasker replaces known secret values in log lines with oldLogMaskText. A nil
// oldLogMasker masks nothing. It is safe for concurrent use.
type oldLogMasker struct {
	secrets [][]byte // distinct, at least oldLogMinSecretLen bytes
}

// newOldLogMasker returns a masker for the given secret values. Empty, short and
// repeated values are ignored. Secrets are matched as exact bytes; a secret
// that contains a newline cannot match, since lines are masked one by one.
func newOldLogMasker(secrets []string) *oldLogMasker {
	m := &oldLogMasker{}
	for _, s := range secrets {
		if len(s) < oldLogMinSecretLen || slices.ContainsFunc(m.secrets, func(b []byte) bool { return string(b) == s }) {
			continue
		}
		m.secrets = append(m.secrets, []byte(s))
	}
	return m
}

// Mask returns line with every occurrence of every secret replaced by
// oldLogMaskText. Overlapping occurrences, and secrets that are substrings of
// others, are masked as one run so no fragment of either shows. When there is
// nothing to mask it returns line itself without allocating; otherwise a new
// slice.
func (m *oldLogMasker) Mask(line []byte) []byte {
	if m == nil {
		return line
	}
	// Fast path: bytes.Index is vectorised; with ~10 secrets almost every
	// line is checked in a few passes and returned untouched.
	first := -1
	for i, s := range m.secrets {
		if bytes.Contains(line, s) {
			first = i
			break
		}
	}
	if first < 0 {
		return line
	}
	// Mark covered bytes, then emit one oldLogMaskText per covered run.
	covered := make([]bool, len(line))
	for _, s := range m.secrets[first:] {
		for off := 0; ; {
			i := bytes.Index(line[off:], s)
			if i < 0 {
				break
			}
			for j := off + i; j < off+i+len(s); j++ {
				covered[j] = true
			}
			off += i + 1 // overlapping occurrences of the same secret
		}
	}
	out := make([]byte, 0, len(line))
	for i := 0; i < len(line); {
		if !covered[i] {
			out = append(out, line[i])
			i++
			continue
		}
		out = append(out, oldLogMaskText...)
		for i < len(line) && covered[i] {
			i++
		}
	}
	return out
}

// MaskString is Mask for a string.
func (m *oldLogMasker) MaskString(s string) string {
	if m == nil {
		return s
	}
	b := m.Mask([]byte(s))
	return string(b)
}

// ---- internal/bundle/redact.go ----

// oldBundleMask is what replaces a secret.
const oldBundleMask = "****"

// oldBundleMinSecret is the shortest exact value masked: shorter ones ("1", "yes")
// would garble every file while hiding nothing.
const oldBundleMinSecret = 4

// Secret is a value to mask wherever it appears, with what it is for the
// report ("database admin password"). The report never holds the value.
type oldBundleSecret struct {
	What  string
	Value string
}

// form is one spelling of a secret: the value itself, one line of a
// multi-line value (logs are written line by line), or the value as it
// appears inside JSON text.
type oldBundleForm struct {
	what  string
	value []byte
}

// forms expands secrets into every spelling to search for, longest first so
// that a long secret is counted once and not as its parts.
func oldBundleForms(secrets []oldBundleSecret) []oldBundleForm {
	var out []oldBundleForm
	seen := map[string]bool{}
	add := func(what, v string) {
		if len(v) < oldBundleMinSecret || seen[v] {
			return
		}
		seen[v] = true
		out = append(out, oldBundleForm{what: what, value: []byte(v)})
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
	slices.SortStableFunc(out, func(a, b oldBundleForm) int { return len(b.value) - len(a.value) })
	return out
}

// oldBundlePEMRE matches a PEM private key, also inside JSON text where its
// newlines are written \n.
var oldBundlePEMRE = regexp.MustCompile(`(?s)-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----`)

// oldBundleAssignRE matches an env-file assignment, active or commented out.
var oldBundleAssignRE = regexp.MustCompile(`^(\s*(?:#\s*)?(?:export\s+)?)([A-Za-z_][A-Za-z0-9_]*)(\s*=\s*)(.*)$`)

// oldBundleLooksSecret reports whether a key's name says it holds a secret:
// *PASSWORD*, *SECRET*, *TOKEN*, *KEY* or *CREDENTIAL*, except keys that
// name a file.
func oldBundleLooksSecret(key string) bool {
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

// oldBundleMaskable says whether an env value is worth masking by key name: not
// empty, not a file path, not CARTO's placeholder, not masked already.
func oldBundleMaskable(v string, minLen int) bool {
	v = strings.Trim(strings.TrimSpace(v), `"'`)
	return len(v) >= minLen && v != oldBundleMask && !strings.Contains(v, "<FILL_ME>") &&
		!strings.HasPrefix(v, "/") && !strings.HasPrefix(v, "./") && !strings.HasPrefix(v, "../")
}

// redact masks data: every spelling of every secret, then (in an env file)
// the value of every secret-looking key, then any PEM private key left. It
// returns the masked data and the count of masks by what was masked.
func oldBundleRedact(data []byte, fs []oldBundleForm, env bool) ([]byte, map[string]int) {
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
		out = append(out, oldBundleMask...)
	}
	if env {
		lines := strings.Split(string(out), "\n")
		for i, line := range lines {
			sm := oldBundleAssignRE.FindStringSubmatch(strings.TrimRight(line, "\r"))
			if sm == nil || !oldBundleLooksSecret(sm[2]) || !oldBundleMaskable(sm[4], 1) {
				continue
			}
			lines[i] = sm[1] + sm[2] + sm[3] + oldBundleMask
			counts["value of "+sm[2]]++
		}
		out = []byte(strings.Join(lines, "\n"))
	}
	out = oldBundlePEMRE.ReplaceAllFunc(out, func([]byte) []byte {
		counts["private key (PEM block)"]++
		return []byte(oldBundleMask)
	})
	return out, counts
}

// ---- internal/deploy/mask.go ----
// oldDeployLooksSecret reports whether a key's name says it holds a secret:
// *PASSWORD*, *SECRET*, *TOKEN* or *KEY*, except the keys that name a file.
func oldDeployLooksSecret(key string) bool {
	k := strings.ToUpper(key)
	if strings.HasSuffix(k, "_PATH") || strings.HasSuffix(k, "FILENAME") || strings.HasSuffix(k, "_FILE") {
		return false
	}
	return strings.Contains(k, "PASSWORD") || strings.Contains(k, "SECRET") ||
		strings.Contains(k, "TOKEN") || strings.Contains(k, "KEY")
}

// oldDeployIsPath reports whether a value is a file path rather than a secret.
func oldDeployIsPath(v string) bool {
	v = strings.Trim(v, `"'`)
	return strings.HasPrefix(v, "/") || strings.HasPrefix(v, "./") || strings.HasPrefix(v, "../")
}

// oldDeployAssignRE matches an assignment line, active or commented out, with
// the key and the raw text after the separator.
var oldDeployAssignRE = regexp.MustCompile(`^(\s*(?:#\s*)?(?:export\s+)?)([A-Za-z_][A-Za-z0-9_]*)(\s*[=:]\s*)(.*)$`)

// maskLine hides secrets in one line of customer.env text: the value of a
// secret-looking key (unless it is empty, a placeholder or a path) and
// every known secret value wherever it appears.
func oldDeployMaskLine(line string, m *oldLogMasker) string {
	if sm := oldDeployAssignRE.FindStringSubmatch(line); sm != nil && oldDeployLooksSecret(sm[2]) {
		raw := strings.TrimSpace(sm[4])
		val := strings.Trim(raw, `"'`)
		if val != "" && !strings.Contains(val, "<FILL_ME>") && !oldDeployIsPath(val) {
			line = sm[1] + sm[2] + sm[3] + oldLogMaskText
		}
	}
	return m.MaskString(line)
}
