package envfile

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"
)

// File is an env file held as its original bytes plus the statements
// compose-go would read from them. Edits change the bytes of one statement or
// line and leave every other byte alone.
type File struct {
	src      []byte
	stmts    []stmt
	comments []span
	vals     map[string]string
	// ours holds the line starts this File commented out itself, so that
	// Set prefers to uncomment a line that was already commented in the
	// original (the other database block) over one it just deactivated.
	ours []int
}

// Parse reads data with the rules Docker Compose v2 (compose-go's dotenv
// parser) applies to .env files: statements are KEY=VALUE (or KEY: VALUE)
// with an optional "export " prefix, # starts a comment at the beginning of
// a statement, an unquoted value ends at the line end or at the first " #"
// and is trimmed, a single-quoted value is literal except that \' is a quote,
// a double-quoted value is escape-decoded and interpolated, quoted values may
// span lines, and the last assignment of a key wins. Interpolation looks only
// at keys defined earlier in the file, not at the process environment. The
// bytes are kept as they are, so Bytes of an unedited File equals data.
// Errors name the line but never quote a value, which may be a secret.
func Parse(data []byte) (*File, error) {
	f := &File{src: bytes.Clone(data)}
	if err := f.reparse(); err != nil {
		return nil, err
	}
	return f, nil
}

func (f *File) reparse() error {
	stmts, comments, vals, err := parse(f.src)
	if err != nil {
		return err
	}
	f.stmts, f.comments, f.vals = stmts, comments, vals
	return nil
}

// Bytes returns the file's current content.
func (f *File) Bytes() []byte { return bytes.Clone(f.src) }

// Get returns the effective value of key, the one its last assignment gives.
// A key that only appears bare (compose-go then reads it from the process
// environment) or only in comments is reported as absent.
func (f *File) Get(key string) (string, bool) {
	v, ok := f.vals[key]
	return v, ok
}

// Keys returns the assigned keys in the order of their first assignment.
func (f *File) Keys() []string {
	var keys []string
	seen := map[string]bool{}
	for _, st := range f.stmts {
		if !st.inherited && !seen[st.key] {
			seen[st.key] = true
			keys = append(keys, st.key)
		}
	}
	return keys
}

var keyRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Set gives key the value value. It rewrites the last statement of the key
// in place as KEY=<quoted value> (keeping an "export " prefix and anything
// after the value, such as an inline comment); if the key only appears as a
// commented-out assignment ("#KEY=..." or "# KEY=..." at the start of a
// line) it replaces that line with the assignment, which is how the local
// and external database blocks of CARTO's package are switched, preferring
// a line that was commented out before this File commented any; otherwise
// it appends KEY=<quoted value> as a new last line. The key must be a shell
// variable name. The value is written as Quote describes, and Set refuses
// what Quote refuses, leaving the file unchanged. Every edit is re-parsed
// and undone with an error if the key does not read back the value or any
// other key changed. Text kept after the value, such as a trailing comment,
// is the original's: a file that holds two statements on one line, which
// compose-go accepts, may still read differently under python-dotenv.
func (f *File) Set(key, value string) error {
	if !keyRe.MatchString(key) {
		return fmt.Errorf("envfile: set %q: a key must be letters, digits and _ and not start with a digit", key)
	}
	var prefer byte
	var a, b int
	last := -1
	for i, st := range f.stmts {
		if st.key == key {
			last = i
		}
	}
	switch {
	case last >= 0:
		st := f.stmts[last]
		prefer, a, b = st.quote, st.keyStart, st.end
	default:
		if line, end, ok := f.commentedAssignment(key); ok {
			a, b = line, end
			break
		}
		if n := len(f.stmts); n > 0 && f.stmts[n-1].noSep {
			return fmt.Errorf("envfile: set %s: the last line has no = and a new line after it would change its meaning; fix that line first", key)
		}
		a, b = len(f.src), len(f.src)
	}
	// A bare value directly followed by more text (K='x'#c) would swallow it.
	bare := b == len(f.src) || strings.ContainsRune(" \t\r\n", rune(f.src[b]))
	q, err := quote(value, prefer, bare)
	if err != nil {
		return fmt.Errorf("envfile: set %s: %w", key, err)
	}
	text := key + "=" + q
	if a == len(f.src) && last < 0 {
		if len(f.src) > 0 && f.src[len(f.src)-1] != '\n' {
			text = "\n" + text
		}
		text += "\n"
	}
	return f.edit(key, &value, func() { f.replace(a, b, text) })
}

// edit applies change, re-parses and verifies that key now reads *want (or
// is unassigned when want is nil) and that no other key changed; on any
// failure the file is restored. The check guards against a parser or
// quoting bug turning one edit into another.
func (f *File) edit(key string, want *string, change func()) error {
	saved := *f
	saved.src = bytes.Clone(f.src)
	saved.ours = slices.Clone(f.ours)
	change()
	err := f.reparse()
	if err == nil {
		got, ok := f.vals[key]
		switch {
		case want != nil && (!ok || got != *want):
			err = errors.New("the edited file does not read back the value (this is a bug)")
		case want == nil && ok:
			err = errors.New("the key is still assigned (this is a bug)")
		}
	}
	if err == nil {
		b, a := maps.Clone(saved.vals), maps.Clone(f.vals)
		delete(b, key)
		delete(a, key)
		if !maps.Equal(a, b) {
			err = errors.New("the edit would change another key (this is a bug)")
		}
	}
	if err != nil {
		*f = saved
		return fmt.Errorf("envfile: edit %s: %w", key, err)
	}
	return nil
}

// commentedAssignment finds a line of the form "#KEY=..." or "# KEY=...".
// It returns the line start and the end of the comment (before "\r\n" or
// "\n").
func (f *File) commentedAssignment(key string) (int, int, bool) {
	best, bestEnd, bestOurs := -1, -1, true
	for _, c := range f.comments {
		ls := lineStart(f.src, c.start)
		if strings.TrimLeft(string(f.src[ls:c.start]), " \t") != "" {
			continue
		}
		if !assigns(string(f.src[c.start:c.end]), key) {
			continue
		}
		ours := slices.Contains(f.ours, ls)
		if best < 0 || !ours || bestOurs {
			best, bestEnd, bestOurs = ls, c.end, ours
		}
	}
	if best < 0 {
		return 0, 0, false
	}
	if bestEnd > best && f.src[bestEnd-1] == '\r' {
		bestEnd--
	}
	return best, bestEnd, true
}

// assigns reports whether comment reads "#[ ][export ]KEY[ ]=...".
func assigns(comment, key string) bool {
	s := strings.TrimLeft(strings.TrimPrefix(comment, "#"), " \t")
	if rest, ok := strings.CutPrefix(s, "export"); ok && rest != strings.TrimLeft(rest, " \t") {
		s = strings.TrimLeft(rest, " \t")
	}
	s, ok := strings.CutPrefix(s, key)
	return ok && strings.HasPrefix(strings.TrimLeft(s, " \t"), "=")
}

// Comment comments out every statement of key by putting "# " at the start
// of each of its lines, so that a block of settings can be deactivated and
// later reactivated with Set. A statement that shares a line with another
// statement cannot be commented without touching that other key, so Comment
// then returns an error and changes nothing. A key that is not assigned is
// not an error.
func (f *File) Comment(key string) error {
	var idx []int
	for i, st := range f.stmts {
		if st.key == key {
			idx = append(idx, i)
		}
	}
	if len(idx) == 0 {
		return nil
	}
	var starts []int
	for _, i := range idx {
		st := f.stmts[i]
		ls := lineStart(f.src, st.start)
		if strings.TrimLeft(string(f.src[ls:st.start]), " \t\v\f\r") != "" {
			return fmt.Errorf("envfile: comment %s: line %d holds another statement before it", key, lineOf(string(f.src), st.start))
		}
		le := len(f.src)
		if nl := bytes.IndexByte(f.src[st.end:], '\n'); nl >= 0 {
			le = st.end + nl
		}
		if i+1 < len(f.stmts) && f.stmts[i+1].start < le {
			return fmt.Errorf("envfile: comment %s: line %d holds another statement after it", key, lineOf(string(f.src), st.end))
		}
		starts = append(starts, ls)
		for p := ls; ; {
			nl := bytes.IndexByte(f.src[p:st.end], '\n')
			if nl < 0 {
				break
			}
			p += nl + 1
			starts = append(starts, p)
		}
	}
	return f.edit(key, nil, func() {
		for i := len(starts) - 1; i >= 0; i-- {
			f.replace(starts[i], starts[i], "# ")
			f.ours = append(f.ours, starts[i])
		}
	})
}

// replace swaps src[a:b] for text and keeps the marks in ours pointing at
// the same lines.
func (f *File) replace(a, b int, text string) {
	f.src = slices.Concat(f.src[:a:a], []byte(text), f.src[b:])
	delta := len(text) - (b - a)
	kept := f.ours[:0]
	for _, o := range f.ours {
		switch {
		case b > a && o >= a && o < b:
			continue
		case o >= b:
			o += delta
		}
		kept = append(kept, o)
	}
	f.ours = kept
}

// lineStart returns the start of the line holding src[i], after a byte
// order mark on the first line.
func lineStart(src []byte, i int) int {
	ls := bytes.LastIndexByte(src[:i], '\n') + 1
	if ls == 0 && bytes.HasPrefix(src, []byte("\uFEFF")) && i >= 3 {
		ls = 3
	}
	return ls
}

var (
	bareRe = regexp.MustCompile(`^[A-Za-z0-9_./:@,+%-]*$`)
	// pyVarRe is what python-dotenv expands, in any kind of value.
	pyVarRe = regexp.MustCompile(`\$\{[^}:]*(?::-[^}]*)?\}`)
)

// Quote returns value written so that compose-go (Compose v2), python-dotenv
// (Compose v1) and bash `source` all read back exactly value:
//
//   - bare when it only has letters, digits and _ . / : @ , + % -;
//   - else in single quotes, which all three read literally, when it has no
//     ' and no \\ (python-dotenv turns \\ into \ inside single quotes);
//   - else in double quotes with \ and " backslash-escaped, when it has no
//     $ and no ` (python-dotenv has no escape for $, bash needs one for $
//     and `, and compose-go has none for `).
//
// Some values have no such form, and Quote refuses them with an error that
// says why: a line break or NUL (it would end the line, or cannot be carried
// at all), invalid UTF-8 (Compose v1 cannot read the file), a trailing \
// (python-dotenv then reads the closing quote as escaped), ${...} (which
// python-dotenv expands even inside single quotes), and a ' or \\ together
// with $ or `.
func Quote(value string) (string, error) { return quote(value, 0, true) }

// quote is Quote with a preferred quote character (the one the value had
// before), used when that form can carry the value to keep diffs small, and
// a switch that rules out the bare form.
func quote(value string, prefer byte, allowBare bool) (string, error) {
	switch {
	case strings.ContainsAny(value, "\n\r"):
		return "", errors.New("the value contains a line break, which would start a new line in the file")
	case strings.ContainsRune(value, 0):
		return "", errors.New("the value contains a NUL byte, which neither bash nor Compose can carry")
	case !utf8.ValidString(value):
		return "", errors.New("the value is not valid UTF-8, which Compose v1 cannot read")
	case strings.HasSuffix(value, `\`):
		return "", errors.New(`the value ends with a backslash, which Compose v1 (python-dotenv) would read as escaping the closing quote`)
	case pyVarRe.MatchString(value):
		return "", errors.New("the value contains ${...}, which Compose v1 (python-dotenv) expands even inside quotes")
	}
	single := !strings.ContainsRune(value, '\'') && !strings.Contains(value, `\\`)
	double := !strings.ContainsAny(value, "$`")
	switch {
	case prefer == '\'' && single:
		return "'" + value + "'", nil
	case prefer == '"' && double:
		return doubleQuote(value), nil
	case allowBare && bareRe.MatchString(value):
		return value, nil
	case single:
		return "'" + value + "'", nil
	case double:
		return doubleQuote(value), nil
	}
	return "", errors.New("the value combines ' or \\\\ with $ or `, which no quoting reads back the same in Compose v2, Compose v1 and bash")
}

func doubleQuote(v string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(v) + `"`
}
