package envfile

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits that keep parsing linear in the size of a hostile file. A real
// customer.env nests ${...} at most twice and expands to about its own size.
const (
	// MaxNesting is how deep ${...} may sit inside the operand of another
	// ${...}: each level rescans its operand once, so the depth bounds the
	// work per byte.
	MaxNesting = 10
	// expansionFactor and expansionSlack bound the bytes interpolation may
	// produce: expansionFactor times the file size plus expansionSlack.
	// Without a bound, lines such as B=$A$A, C=$B$B, ... double the output
	// per line.
	expansionFactor = 16
	expansionSlack  = 64 << 10
)

// meter counts the parser's work so that tests can assert it is linear:
// steps is the number of bytes examined (a byte examined by several scans
// counts once per scan), out the number of bytes interpolation produced,
// which is refused beyond maxOut.
type meter struct {
	steps  int
	out    int
	maxOut int
}

func newMeter(size int) *meter {
	return &meter{maxOut: expansionFactor*size + expansionSlack}
}

// produced records n bytes of interpolation output.
func (m *meter) produced(n int) error {
	m.out += n
	if m.out > m.maxOut {
		return fmt.Errorf("the values expand to more than %d bytes (variables that repeat other variables many times)", m.maxOut)
	}
	return nil
}

// stmt is one statement as compose-go's dotenv parser sees it. All offsets
// index File.src.
type stmt struct {
	key       string
	value     string
	inherited bool // a bare "KEY" line: compose-go takes the value from the environment
	start     int  // first byte of the statement ("export" or the key)
	keyStart  int  // first byte of the key
	valStart  int  // first byte of the value (a quote for quoted values)
	end       int  // one past the value (past the closing quote), or past the key when inherited
	quote     byte // '\'', '"' or 0 for an unquoted value
	noSep     bool // a last line without = or :, read as a value of the empty key
}

// span is a comment from its '#' up to, not including, its line end.
type span struct{ start, end int }

// escapeSeqRe lists the escapes compose-go decodes in double quotes.
var escapeSeqRe = regexp.MustCompile(`(\\(?:[abcfnrtv$"\\]|0\d{0,3}))`)

// isSpace is compose-go's "space but not a line break".
func isSpace(r rune) bool {
	switch r {
	case '\t', '\v', '\f', '\r', ' ', 0x85, 0xA0:
		return true
	}
	return false
}

func trimLeftSpace(s string, i int, m *meter) int {
	for i < len(s) {
		r, n := utf8.DecodeRuneInString(s[i:])
		m.steps += n
		if !isSpace(r) {
			break
		}
		i += n
	}
	return i
}

// lineOf returns the 1-based line number of offset i.
func lineOf(s string, i int) int { return strings.Count(s[:i], "\n") + 1 }

// hasExportPrefix reports whether s starts with "export" and whitespace,
// as the regular expression ^export\s+ of compose-go matches.
func hasExportPrefix(s string) bool {
	return len(s) > len("export") && strings.HasPrefix(s, "export") && strings.IndexByte("\t\n\f\r ", s[len("export")]) >= 0
}

// InvalidUTF8Error reports the first bytes of a file that are not UTF-8.
// Compose v1 (python-dotenv) cannot read such a file, and Compose v2 hands
// the containers U+FFFD instead of the bytes.
type InvalidUTF8Error struct {
	Line   int // 1-based
	Column int // 1-based byte offset within the line
}

func (e *InvalidUTF8Error) Error() string {
	return fmt.Sprintf("envfile: parse: line %d: invalid UTF-8 at byte %d of the line; save the file as UTF-8", e.Line, e.Column)
}

// CheckUTF8 returns an *InvalidUTF8Error naming the line of the first byte
// of data that is not valid UTF-8, or nil.
func CheckUTF8(data []byte) error {
	if utf8.Valid(data) {
		return nil
	}
	line, ls := 1, 0
	for i := 0; i < len(data); {
		r, n := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && n == 1 {
			return &InvalidUTF8Error{Line: line, Column: i - ls + 1}
		}
		if r == '\n' {
			line, ls = line+1, i+1
		}
		i += n
	}
	return nil
}

// parse reads src with compose-go's statement rules and returns the
// statements, the comments and the effective values.
func parse(src []byte) ([]stmt, []span, map[string]string, error) {
	return parseMetered(src, newMeter(len(src)))
}

// parseMetered is parse with its work counted in m. Every loop below adds
// the bytes it looks at to m.steps, so that the fuzz test can prove the
// total stays within a constant times len(src).
func parseMetered(src []byte, m *meter) ([]stmt, []span, map[string]string, error) {
	m.steps += len(src) // the UTF-8 check
	if err := CheckUTF8(src); err != nil {
		return nil, nil, nil, err
	}
	s := string(src)
	pos := 0
	if bytes.HasPrefix(src, []byte("\uFEFF")) {
		pos = 3
	}
	var stmts []stmt
	var comments []span
	vals := map[string]string{}
	for {
		i := strings.IndexFunc(s[pos:], func(r rune) bool { return !unicode.IsSpace(r) })
		if i < 0 {
			m.steps += len(s) - pos
			break
		}
		m.steps += i + 1
		i += pos
		if s[i] == '#' {
			nl := strings.IndexByte(s[i:], '\n')
			if nl < 0 {
				m.steps += len(s) - i
				comments = append(comments, span{i, len(s)})
				break
			}
			m.steps += nl + 1
			comments = append(comments, span{i, i + nl})
			pos = i + nl
			continue
		}
		st := stmt{start: i, keyStart: i}
		m.steps += len("export") + 1
		if hasExportPrefix(s[i:]) {
			st.keyStart = trimLeftSpace(s, i+len("export"), m)
		}
		k := st.keyStart
		if k == len(s) {
			return nil, nil, nil, fmt.Errorf("envfile: parse: line %d: zero length string", lineOf(s, i))
		}
		key, offset, found := "", k, false
	loop:
		for j, r := range s[k:] {
			m.steps += utf8.RuneLen(r)
			if isSpace(r) {
				continue
			}
			switch r {
			case '=', ':', '\n':
				key, offset, found = s[k:k+j], k+j+1, true
				st.inherited = r == '\n'
				break loop
			case '_', '.', '-', '[', ']':
			default:
				if unicode.IsLetter(r) || unicode.IsNumber(r) {
					continue
				}
				return nil, nil, nil, fmt.Errorf("envfile: parse: line %d: unexpected character %q in variable name", lineOf(s, k+j), string(r))
			}
		}
		if !found {
			// compose-go reads a last line without '=' as a value of the empty key.
			offset, st.noSep = k, true
		}
		m.steps += len(key)
		key = strings.TrimRightFunc(key, unicode.IsSpace)
		if strings.Contains(key, " ") {
			return nil, nil, nil, fmt.Errorf("envfile: parse: line %d: key cannot contain a space", lineOf(s, k))
		}
		st.key = key
		if st.inherited {
			st.end = offset - 1
			st.valStart = st.end
			stmts = append(stmts, st)
			pos = offset
			continue
		}
		v := trimLeftSpace(s, offset, m)
		st.valStart = v
		if v < len(s) && (s[v] == '\'' || s[v] == '"') {
			value, end, err := quotedValue(s, v, vals, m)
			if err != nil {
				return nil, nil, nil, err
			}
			st.quote, st.value, st.end = s[v], value, end
			pos = end
		} else {
			lineEnd := len(s)
			pos = len(s)
			if nl := strings.IndexByte(s[v:], '\n'); nl >= 0 {
				lineEnd = v + nl
				pos = lineEnd + 1
			}
			raw := s[v:lineEnd]
			m.steps += 3 * len(raw) // the line end, the comment and the trim
			if c := strings.Index(raw, " #"); c >= 0 {
				raw = raw[:c]
			}
			raw = strings.TrimRightFunc(raw, unicode.IsSpace)
			value, err := expand(raw, vals, 0, m)
			if err != nil {
				return nil, nil, nil, fmt.Errorf("envfile: parse: line %d: %w", lineOf(s, v), err)
			}
			st.value, st.end = value, v+len(raw)
		}
		vals[key] = st.value
		stmts = append(stmts, st)
	}
	return stmts, comments, vals, nil
}

// quotedValue scans the quoted value starting at s[v] the way compose-go
// does: a backslash before the quote character escapes it, any other
// backslash is kept, and double-quoted values are then escape-decoded and
// expanded.
func quotedValue(s string, v int, vals map[string]string, m *meter) (string, int, error) {
	q := s[v]
	esc := false
	var chars []byte
	for i := v + 1; i < len(s); i++ {
		m.steps++
		c := s[i]
		if c != q {
			if !esc && c == '\\' {
				esc = true
				continue
			}
			if esc {
				esc = false
				chars = append(chars, '\\')
			}
			chars = append(chars, c)
			continue
		}
		if esc {
			esc = false
			chars = append(chars, c)
			continue
		}
		value := string(chars)
		if q == '"' {
			m.steps += 2 * len(value) // the escape pass reads and writes it
			var err error
			value, err = expand(expandEscapes(value), vals, 0, m)
			if err != nil {
				return "", 0, fmt.Errorf("envfile: parse: line %d: %w", lineOf(s, v), err)
			}
		}
		return value, i + 1, nil
	}
	return "", 0, fmt.Errorf("envfile: parse: line %d: unterminated quoted value", lineOf(s, v))
}

func expandEscapes(str string) string {
	return escapeSeqRe.ReplaceAllStringFunc(str, func(m string) string {
		if m == `\$` {
			return "$$"
		}
		if strings.HasPrefix(m, `\0`) {
			m = `\` + m[2:]
		}
		r, _, _, err := strconv.UnquoteChar(m, '"')
		if err != nil {
			return m
		}
		return string(r)
	})
}

// expand performs the ${VAR} interpolation compose-go applies to unquoted
// and double-quoted values, looking only at keys defined earlier in the file
// (never the process environment). It covers $$, $NAME, ${NAME} and the
// :-, -, :+, +, :? and ? forms, with operands interpolated in turn; a $
// that starts no variable stays as it is. depth is how many ${...} enclose
// v; beyond MaxNesting the value is refused.
func expand(v string, vals map[string]string, depth int, m *meter) (string, error) {
	m.steps += len(v) // the search for $
	if !strings.Contains(v, "$") {
		return v, nil
	}
	var b strings.Builder
	// write copies interpolation output and counts it against the bound.
	write := func(s string) error {
		b.WriteString(s)
		return m.produced(len(s))
	}
	lit := 0 // start of the literal run not yet written
	for i := 0; i < len(v); i++ {
		m.steps++
		if v[i] != '$' {
			continue
		}
		if err := write(v[lit:i]); err != nil {
			return "", err
		}
		rest := v[i+1:]
		switch {
		case strings.HasPrefix(rest, "$"):
			if err := write("$"); err != nil {
				return "", err
			}
			i++
		case len(rest) > 0 && isNameStart(rest[0]):
			n := nameLen(rest)
			m.steps += n
			if err := write(vals[rest[:n]]); err != nil {
				return "", err
			}
			i += n
		case strings.HasPrefix(rest, "{"):
			if depth >= MaxNesting {
				return "", fmt.Errorf("${...} is nested more than %d deep", MaxNesting)
			}
			end := closingBrace(rest, m)
			if end < 0 {
				return "", errors.New("invalid interpolation format: ${ without }")
			}
			out, err := braced(rest[1:end], vals, depth+1, m)
			if err != nil {
				return "", err
			}
			if err := write(out); err != nil {
				return "", err
			}
			i += end + 1
		default:
			// compose-go keeps a $ that starts no variable.
			if err := write("$"); err != nil {
				return "", err
			}
		}
		lit = i + 1
	}
	if err := write(v[lit:]); err != nil {
		return "", err
	}
	return b.String(), nil
}

// closingBrace returns the index of the } that closes the { at s[0],
// counting nested braces as compose-go does, or -1.
func closingBrace(s string, m *meter) int {
	open := 0
	for i := 0; i < len(s); i++ {
		m.steps++
		switch s[i] {
		case '}':
			if open--; open == 0 {
				return i
			}
		case '{':
			open++
			i++
		}
	}
	return -1
}

func braced(sub string, vals map[string]string, depth int, m *meter) (string, error) {
	if sub == "" || !isNameStart(sub[0]) {
		return "", errors.New("invalid interpolation format in ${...}")
	}
	n := nameLen(sub)
	m.steps += n
	name, op := sub[:n], sub[n:]
	val, ok := vals[name]
	if op == "" {
		return val, nil
	}
	colon := strings.HasPrefix(op, ":")
	if colon {
		op = op[1:]
	}
	if op == "" {
		return "", errors.New("invalid interpolation format in ${...}")
	}
	arg, err := expand(op[1:], vals, depth, m)
	if err != nil {
		return "", err
	}
	set := ok && (!colon || val != "")
	switch op[0] {
	case '-':
		if !set {
			return arg, nil
		}
		return val, nil
	case '+':
		if set {
			return arg, nil
		}
		return val, nil
	case '?':
		if !set {
			return "", fmt.Errorf("required variable %s is missing a value", name)
		}
		return val, nil
	}
	return "", errors.New("invalid interpolation format in ${...}")
}

func isNameStart(c byte) bool {
	return c == '_' || (c|0x20 >= 'a' && c|0x20 <= 'z')
}

func nameLen(s string) int {
	n := 0
	for n < len(s) && (isNameStart(s[n]) || (s[n] >= '0' && s[n] <= '9')) {
		n++
	}
	return n
}
