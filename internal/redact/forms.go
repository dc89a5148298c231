package redact

import (
	"bytes"
	"encoding/json"
	"maps"
	"net/url"
	"slices"
	"strings"
	"unicode"
)

// expand returns every spelling of every secret, each once, with the What
// of the first secret that has it.
func expand(secrets []Secret) []form {
	var out []form
	seen := map[string]bool{}
	add := func(what, v string) {
		if v == "" || seen[v] {
			return
		}
		seen[v] = true
		out = append(out, form{value: v, what: what})
	}
	var addSecret func(what, v string, depth int)
	addSecret = func(what, v string, depth int) {
		if v == "" {
			return
		}
		for _, f := range spellings(v) {
			add(what, f)
		}
		if strings.ContainsAny(v, "\r\n") {
			for line := range strings.SplitSeq(v, "\n") {
				line = strings.TrimSpace(line)
				// A line of punctuation alone ("{", "}," of a
				// pretty-printed key.json) hides nothing, and masking it
				// would garble every JSON document of an output.
				if line == "" || pemArmour(line) || !strings.ContainsFunc(line, isAlnum) {
					continue
				}
				for _, f := range spellings(line) {
					add(what, f)
				}
			}
		}
		if depth < 2 {
			fields := jsonSecrets(v)
			for _, field := range slices.Sorted(maps.Keys(fields)) {
				addSecret(what+" "+strings.ReplaceAll(strings.ReplaceAll(field, "_id", " ID"), "_", " "), fields[field], depth+1)
			}
		}
	}
	for _, s := range secrets {
		addSecret(s.What, s.Value, 0)
	}
	return out
}

// maxURLForm is the longest value whose URL-encoded forms are registered:
// passwords and tokens go into URLs, keys and key files do not.
const maxURLForm = 256

// spellings returns v as it is written in the formats carto-setup's
// outputs carry: itself, inside a JSON string (Go escapes <, > and & by
// default; other encoders do not, and some write / as \/), and
// URL-encoded (a password in a connection string or a query).
func spellings(v string) []string {
	out := []string{v}
	plain := jsonString(v, false)
	out = append(out, jsonString(v, true), plain)
	if strings.Contains(plain, "/") {
		out = append(out, strings.ReplaceAll(plain, "/", `\/`))
	}
	if len(v) <= maxURLForm {
		out = append(out, url.QueryEscape(v), url.PathEscape(v))
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// jsonString returns v encoded as the inside of a JSON string.
func jsonString(v string, escapeHTML bool) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(escapeHTML)
	if err := enc.Encode(v); err != nil {
		return v
	}
	return strings.TrimSuffix(strings.TrimPrefix(strings.TrimSuffix(b.String(), "\n"), `"`), `"`)
}

// pemArmour reports whether a line is a PEM BEGIN or END line, which says
// what the block is and hides nothing.
func pemArmour(line string) bool {
	return (strings.HasPrefix(line, "-----BEGIN ") || strings.HasPrefix(line, "-----END ")) && strings.HasSuffix(line, "-----")
}

// jsonSecrets returns the secret string fields of a JSON object (a
// service-account key.json: private_key, private_key_id), by field name.
func jsonSecrets(v string) map[string]string {
	t := strings.TrimSpace(v)
	if !strings.HasPrefix(t, "{") {
		return nil
	}
	var doc map[string]any
	if json.Unmarshal([]byte(t), &doc) != nil {
		return nil
	}
	out := map[string]string{}
	for k, x := range doc {
		s, ok := x.(string)
		if ok && s != "" && (SecretName(k) || k == "private_key_id") {
			out[k] = s
		}
	}
	return out
}

// isAlnum reports whether r is a letter or a digit.
func isAlnum(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }
