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

var (
	exportRe = regexp.MustCompile(`^export\s+`)
	// escapeSeqRe lists the escapes compose-go decodes in double quotes.
	escapeSeqRe = regexp.MustCompile(`(\\(?:[abcfnrtv$"\\]|0\d{0,3}))`)
)

// isSpace is compose-go's "space but not a line break".
func isSpace(r rune) bool {
	switch r {
	case '\t', '\v', '\f', '\r', ' ', 0x85, 0xA0:
		return true
	}
	return false
}

func trimLeftSpace(s string, i int) int {
	for i < len(s) {
		r, n := utf8.DecodeRuneInString(s[i:])
		if !isSpace(r) {
			break
		}
		i += n
	}
	return i
}

// lineOf returns the 1-based line number of offset i.
func lineOf(s string, i int) int { return strings.Count(s[:i], "\n") + 1 }

// parse reads src with compose-go's statement rules and returns the
// statements, the comments and the effective values.
func parse(src []byte) ([]stmt, []span, map[string]string, error) {
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
			break
		}
		i += pos
		if s[i] == '#' {
			nl := strings.IndexByte(s[i:], '\n')
			if nl < 0 {
				comments = append(comments, span{i, len(s)})
				break
			}
			comments = append(comments, span{i, i + nl})
			pos = i + nl
			continue
		}
		st := stmt{start: i, keyStart: i}
		if exportRe.MatchString(s[i:]) {
			st.keyStart = trimLeftSpace(s, i+len("export"))
		}
		k := st.keyStart
		if k == len(s) {
			return nil, nil, nil, fmt.Errorf("envfile: parse: line %d: zero length string", lineOf(s, i))
		}
		key, offset, found := "", k, false
	loop:
		for j, r := range s[k:] {
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
		v := trimLeftSpace(s, offset)
		st.valStart = v
		if v < len(s) && (s[v] == '\'' || s[v] == '"') {
			value, end, err := quotedValue(s, v, vals)
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
			if c := strings.Index(raw, " #"); c >= 0 {
				raw = raw[:c]
			}
			raw = strings.TrimRightFunc(raw, unicode.IsSpace)
			value, err := expand(raw, vals)
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
func quotedValue(s string, v int, vals map[string]string) (string, int, error) {
	q := s[v]
	esc := false
	var chars []byte
	for i := v + 1; i < len(s); i++ {
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
			var err error
			value, err = expand(expandEscapes(value), vals)
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
// that starts no variable stays as it is.
func expand(v string, vals map[string]string) (string, error) {
	if !strings.Contains(v, "$") {
		return v, nil
	}
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		if v[i] != '$' {
			b.WriteByte(v[i])
			continue
		}
		rest := v[i+1:]
		switch {
		case strings.HasPrefix(rest, "$"):
			b.WriteByte('$')
			i++
		case len(rest) > 0 && isNameStart(rest[0]):
			n := nameLen(rest)
			b.WriteString(vals[rest[:n]])
			i += n
		case strings.HasPrefix(rest, "{"):
			end := closingBrace(rest)
			if end < 0 {
				return "", errors.New("invalid interpolation format: ${ without }")
			}
			out, err := braced(rest[1:end], vals)
			if err != nil {
				return "", err
			}
			b.WriteString(out)
			i += end + 1
		default:
			// compose-go keeps a $ that starts no variable.
			b.WriteByte('$')
		}
	}
	return b.String(), nil
}

// closingBrace returns the index of the } that closes the { at s[0],
// counting nested braces as compose-go does, or -1.
func closingBrace(s string) int {
	open := 0
	for i := 0; i < len(s); i++ {
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

func braced(sub string, vals map[string]string) (string, error) {
	if sub == "" || !isNameStart(sub[0]) {
		return "", errors.New("invalid interpolation format in ${...}")
	}
	n := nameLen(sub)
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
	arg, err := expand(op[1:], vals)
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
