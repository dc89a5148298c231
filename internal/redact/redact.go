package redact

import (
	"bytes"
	"slices"
	"strings"
)

// Mask is what replaces a secret: one per masked run, whatever its length,
// so that the output does not tell how long the secret was.
const Mask = "****"

// ShortLen is the length (in bytes) from which a registered value is masked
// wherever it occurs, even inside a longer word. A shorter value ("ab", a
// one-digit PIN) is masked only where it stands alone: where each byte next
// to it is the edge of the text or a separator (blank, quote, or one of
// = : ; , . ( ) [ ] { } < > @ & | / \ ? ! #), as in "password=ab",
// "redis://:ab@cache" or `"ab"`. Masking it inside words would turn every
// "ab" of "about" into ****, garbling every log while hiding nothing: a
// short secret glued to other letters is not readable as that secret.
const ShortLen = 4

// PEMBlock is what the report calls a PEM private key found by its armour.
const PEMBlock = "private key (PEM block)"

// Secret is one value to mask wherever it appears, and what it is, for the
// redaction report ("database admin password"). The report never holds the
// value.
type Secret struct {
	What  string
	Value string
}

// Values returns anonymous secrets for values, for callers that report no
// counts (the live logs).
func Values(values ...string) []Secret {
	out := make([]Secret, 0, len(values))
	for _, v := range values {
		out = append(out, Secret{What: "secret", Value: v})
	}
	return out
}

// Redactor masks secrets in text: every registered secret value in every
// form it takes in files and logs (see New), the value of every
// secret-looking key (SecretName) in the assignment forms of assignments,
// and every PEM private key. It is immutable and safe for concurrent use;
// build it once per set of secrets. A nil *Redactor masks nothing.
type Redactor struct {
	ac    *automaton
	forms []form
}

// form is one spelling of a secret to search for.
type form struct {
	value string
	what  string
}

// New returns a redactor for secrets. Each value is registered with its
// JSON string forms (Go's, with and without HTML escapes, and with \/), its
// URL-encoded forms (how a password appears in a connection string), and,
// for a multi-line value (a PEM key, key.json), each of its lines and their
// JSON forms, since logs and diffs are masked line by line. A value that is
// a JSON object also registers the string fields whose names are secret
// (and private_key_id), so a key.json registers its private key. Empty
// values are ignored; every other length is masked (see ShortLen).
func New(secrets []Secret) *Redactor {
	forms := expand(secrets)
	values := make([]string, len(forms))
	for i, f := range forms {
		values[i] = f.value
	}
	return &Redactor{ac: newAutomaton(values), forms: forms}
}

// Mask returns line with every secret masked (see Redactor). It is meant
// for one line of a log stream, but any text works: the key-name rule is
// applied to each line in it. When there is nothing to mask it returns line
// itself without allocating; otherwise a new slice.
func (r *Redactor) Mask(line []byte) []byte {
	if r == nil {
		return line
	}
	_, found, kw := r.ac.scan(line, nil, false)
	if !found && !(kw && hasAssignment(line)) && !bytes.Contains(line, pemMarker) {
		return line
	}
	out, _ := r.apply(line, false)
	return out
}

// MaskValues masks the registered values and PEM private keys in data,
// but not by key name: for documents carto-setup builds itself from values
// already masked at their source (a JSON report), where the key-name rule
// would take a field like "secret": true or "key": "LOG_LEVEL" for a
// secret and break the document.
func (r *Redactor) MaskValues(data []byte) []byte {
	if r == nil {
		return data
	}
	if _, found, _ := r.ac.scan(data, nil, false); !found && !bytes.Contains(data, pemMarker) {
		return data
	}
	matches, _, _ := r.ac.scan(data, nil, true)
	spans := make([]span, 0, len(matches))
	for _, m := range matches {
		spans = append(spans, span{from: m.start, start: m.start, end: m.end, what: r.forms[m.form].what})
	}
	if bytes.Contains(data, pemMarker) {
		spans = pemBlocks(data, spans)
	}
	return mergeSpans(data, spans)
}

// MaskString is Mask for a string.
func (r *Redactor) MaskString(s string) string {
	if r == nil {
		return s
	}
	if s == "" {
		return s
	}
	b := []byte(s)
	out := r.Mask(b)
	if len(out) == len(b) && &out[0] == &b[0] {
		return s
	}
	return string(out)
}

// Text masks a whole document (a file of the support bundle) and counts
// what it masked: each registered secret under its What, each value masked
// by key name as "value of NAME", each PEM private key as PEMBlock. An
// occurrence inside one already counted (a line of a key inside the key) is
// not counted again.
func (r *Redactor) Text(data []byte) ([]byte, map[string]int) {
	if r == nil {
		return data, map[string]int{}
	}
	return r.apply(data, true)
}

func hasAssignment(data []byte) bool {
	if bytes.IndexByte(data, '=') < 0 && bytes.IndexByte(data, ':') < 0 {
		return false
	}
	for line := range bytes.SplitSeq(data, []byte("\n")) {
		if _, ok := assignments(line, 0, nil); ok {
			return true
		}
	}
	return false
}

// pemMarker is in the armour of every PEM private key.
var pemMarker = []byte("PRIVATE KEY-----")

// pemBlocks appends the PEM private keys of data to dst: from a
// "-----BEGIN … PRIVATE KEY-----" armour to the matching END armour, also
// inside JSON text where the line breaks are written \n, or to the end of
// data for a key cut off (a truncated log).
func pemBlocks(data []byte, dst []span) []span {
	for off := 0; ; {
		i := bytes.Index(data[off:], []byte("-----BEGIN "))
		if i < 0 {
			return dst
		}
		start := off + i
		head := start + len("-----BEGIN ")
		j := armourEnd(data[head:])
		if j < 0 {
			off = head
			continue
		}
		end := len(data)
		for from := head + j; ; {
			k := bytes.Index(data[from:], []byte("-----END "))
			if k < 0 {
				break
			}
			if e := armourEnd(data[from+k+len("-----END "):]); e >= 0 {
				end = from + k + len("-----END ") + e
				break
			}
			from += k + len("-----END ")
		}
		dst = append(dst, span{from: start, start: start, end: end, what: PEMBlock})
		off = end
	}
}

// armourEnd returns the length of "[A-Z0-9 ]*PRIVATE KEY-----" at the start
// of b, or -1.
func armourEnd(b []byte) int {
	i := 0
	for i < len(b) && (isUpper(b[i]) || isDigit(b[i]) || b[i] == ' ') {
		i++
	}
	if !bytes.HasSuffix(b[:i], []byte("PRIVATE KEY")) || !bytes.HasPrefix(b[i:], []byte("-----")) {
		return -1
	}
	return i + len("-----")
}

// apply masks every span of data, replacing each run of masked bytes with
// one Mask, and counts them when asked.
func (r *Redactor) apply(data []byte, count bool) ([]byte, map[string]int) {
	spans := r.find(data)
	var counts map[string]int
	if count {
		counts = map[string]int{}
		covered := make([]bool, len(data))
		for _, s := range spans {
			if slices.Contains(covered[s.start:s.end], false) {
				counts[s.what]++
				for i := s.start; i < s.end; i++ {
					covered[i] = true
				}
			}
		}
	}
	return mergeSpans(data, spans), counts
}

// mergeSpans replaces each run of overlapping spans of data with Mask.
func mergeSpans(data []byte, spans []span) []byte {
	if len(spans) == 0 {
		return data
	}
	slices.SortFunc(spans, func(a, b span) int { return a.start - b.start })
	out := make([]byte, 0, len(data))
	pos := 0
	for i := 0; i < len(spans); {
		start, end := spans[i].start, spans[i].end
		for i++; i < len(spans) && spans[i].start <= end; i++ {
			end = max(end, spans[i].end)
		}
		if start < pos {
			start = pos
		}
		out = append(out, data[pos:start]...)
		out = append(out, Mask...)
		pos = end
	}
	return append(out, data[pos:]...)
}

// find returns every span of data to mask: registered values longest
// first (so that the report counts a secret once, not as its parts), then
// values masked by key name, then PEM private keys.
func (r *Redactor) find(data []byte) []span {
	matches, _, _ := r.ac.scan(data, nil, true)
	spans := make([]span, 0, len(matches)+4)
	slices.SortStableFunc(matches, func(a, b match) int { return (b.end - b.start) - (a.end - a.start) })
	for _, m := range matches {
		spans = append(spans, span{from: m.start, start: m.start, end: m.end, what: r.forms[m.form].what})
	}
	off := 0
	for line := range bytes.SplitSeq(data, []byte("\n")) {
		spans, _ = assignments(line, off, spans)
		off += len(line) + 1
	}
	if bytes.Contains(data, pemMarker) {
		spans = pemBlocks(data, spans)
	}
	return spans
}

// standsAlone reports whether data[start:end] may be masked: always for a
// value of ShortLen bytes or more, and for a shorter one only where it
// stands alone (see ShortLen).
func standsAlone(data []byte, start, end int) bool {
	if end-start >= ShortLen {
		return true
	}
	return bounded(data, start, end)
}

// bounded reports whether data[start:end] has a separator (or the end of
// data) on both sides.
func bounded[T ~string | ~[]byte](data T, start, end int) bool {
	return (start == 0 || separator(data[start-1])) && (end == len(data) || separator(data[end]))
}

// separator reports whether c ends a word for ShortLen.
func separator(c byte) bool {
	switch c {
	case ' ', '\t', '\n', '\r', '\v', '\f', '"', '\'', '`', '=', ':', ';', ',', '.',
		'(', ')', '[', ']', '{', '}', '<', '>', '@', '&', '|', '/', '\\', '?', '!', '#':
		return true
	}
	return false
}

// Shows reports whether text shows value by the standard the Redactor
// masks to: anywhere for a value of ShortLen bytes or more, and where it
// stands alone for a shorter one. Tests use it to look for leaks.
func Shows(text, value string) bool {
	return ShowsEncoded(text, value, len(value))
}

// ShowsEncoded is Shows for form, an encoding of a value of valueLen
// bytes (its JSON string body, say): a short value stays short however
// long its escapes make it, so it shows only where its form stands alone.
func ShowsEncoded(text, form string, valueLen int) bool {
	if form == "" {
		return false
	}
	if valueLen >= ShortLen {
		return strings.Contains(text, form)
	}
	for off := 0; ; {
		i := strings.Index(text[off:], form)
		if i < 0 {
			return false
		}
		start := off + i
		if bounded(text, start, start+len(form)) {
			return true
		}
		off = start + 1
	}
}
