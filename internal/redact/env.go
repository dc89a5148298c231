package redact

import (
	"bytes"
	"strings"

	"github.com/carto-setup/carto-setup/internal/envfile"
)

// EnvSecrets returns the values of the secret-looking keys (SecretName) of
// an env file (customer.env, .env), commented-out assignments included, to
// be masked wherever they appear: a container may log one. Each is named
// "value of KEY" for the report. Every length counts (see ShortLen), but
// not values that cannot be secrets and would otherwise be masked in every
// log line: flags (true, false, yes, no, on, off, null, none), CARTO's
// <FILL_ME> placeholders, ${VARIABLE} references and Mask itself.
//
// Values are read both line by line, with the quoting rules of env files,
// and, when the file parses, as Compose reads them (escapes decoded,
// multi-line quoted values joined), so that either spelling is registered.
func EnvSecrets(data []byte) []Secret {
	var out []Secret
	seen := map[Secret]bool{}
	add := func(name, value, raw string) {
		s := Secret{What: "value of " + name, Value: value}
		if !SecretName(name) || !registrable(value) || variableReference([]byte(raw)) || seen[s] {
			return
		}
		seen[s] = true
		out = append(out, s)
	}
	for line := range bytes.SplitSeq(data, []byte("\n")) {
		line = bytes.TrimRight(line, " \t\r")
		nameStart, nameEnd, start, ok := lineAssignment(line)
		if !ok {
			continue
		}
		add(string(line[nameStart:nameEnd]), unquote(string(line[start:])), string(line[start:]))
	}
	if f, err := envfile.Parse(data); err == nil {
		for _, k := range f.Keys() {
			v, _ := f.Get(k)
			add(k, v, "")
		}
	}
	return out
}

// unquote reads an env file value: a quoted one up to its closing quote
// (with \' in single quotes and \\, \", \$ in double quotes), an unquoted
// one up to an inline " #" comment.
func unquote(raw string) string {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return ""
	}
	switch q := raw[0]; q {
	case '\'', '"':
		var b strings.Builder
		for i := 1; i < len(raw); i++ {
			c := raw[i]
			if c == '\\' && i+1 < len(raw) && (raw[i+1] == q || q == '"' && strings.IndexByte(`\$`, raw[i+1]) >= 0) {
				b.WriteByte(raw[i+1])
				i++
				continue
			}
			if c == q {
				break
			}
			b.WriteByte(c)
		}
		return b.String()
	}
	if i := strings.Index(raw, " #"); i >= 0 {
		raw = raw[:i]
	}
	return strings.TrimSpace(raw)
}

// registrable reports whether a value under a secret-looking key is worth
// masking wherever it appears.
func registrable(v string) bool {
	switch strings.ToLower(v) {
	case "", "true", "false", "yes", "no", "on", "off", "null", "none", "nil", "~", Mask:
		return false
	}
	return !strings.Contains(v, "<FILL_ME>")
}
