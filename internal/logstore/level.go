package logstore

import (
	"bytes"
	"fmt"
	"strings"
)

// Level is the severity a log line declares, where it declares one.
type Level uint8

// The levels, from least to most severe. LevelNone is a line that carries
// no recognisable level.
const (
	LevelNone Level = iota
	LevelTrace
	LevelDebug
	LevelInfo
	LevelWarn
	LevelError
	LevelFatal
)

var levelNames = [...]string{LevelNone: "", LevelTrace: "trace", LevelDebug: "debug", LevelInfo: "info",
	LevelWarn: "warn", LevelError: "error", LevelFatal: "fatal"}

// String returns the level's name: "trace", "debug", "info", "warn",
// "error", "fatal", or "" for LevelNone.
func (l Level) String() string {
	if int(l) < len(levelNames) {
		return levelNames[l]
	}
	return fmt.Sprintf("level(%d)", uint8(l))
}

// ParseLevel reads a level name as String writes it, and the common
// aliases (warning, err, critical, panic, ...), in any case.
func ParseLevel(s string) (Level, error) {
	if l, ok := levelWordFold([]byte(strings.TrimSpace(s))); ok {
		return l, nil
	}
	return LevelNone, fmt.Errorf("logstore: unknown level %q (want trace, debug, info, warn, error or fatal)", s)
}

// levelWord maps a lower-case level word to its level.
func levelWord(w []byte) (Level, bool) {
	switch string(w) {
	case "trace", "trc", "verbose":
		return LevelTrace, true
	case "debug", "dbg":
		return LevelDebug, true
	case "info", "inf", "information", "notice", "log":
		return LevelInfo, true
	case "warn", "warning", "wrn":
		return LevelWarn, true
	case "error", "err", "eror", "severe":
		return LevelError, true
	case "fatal", "panic", "critical", "crit", "emerg", "emergency", "alert", "ftl":
		return LevelFatal, true
	}
	return LevelNone, false
}

// detectWindow is how much of a line DetectLevel looks at for a JSON or
// logfmt level, and wordWindow for a level word, which follows at most a
// timestamp, a logger or thread name: levels are written near the start.
const (
	detectWindow = 200
	wordWindow   = 96
)

// DetectLevel finds the level a log line declares, looking near its start
// (ANSI colour codes aside) for, in this order:
//   - a JSON "level", "lvl", "severity" or "log.level" field, as a word or
//     as a pino/bunyan number (10 trace ... 60 fatal);
//   - a logfmt level=, lvl= or severity= field;
//   - within the first wordWindow bytes, a level word in capitals (ERROR, WARN, INFO, ...; LOG only before a
//     colon, as postgres writes it), in brackets in any case ([error],
//     <warn>), or in any case followed by a colon at the start of the line
//     ("info: ready").
//
// A line with none of these has LevelNone; a plain lower-case "error" in
// the middle of a message is not taken for a level.
func DetectLevel(text []byte) Level {
	if len(text) > detectWindow {
		text = text[:detectWindow]
	}
	if bytes.IndexByte(text, 0x1b) >= 0 {
		var buf [detectWindow]byte
		text = stripANSI(buf[:0], text)
	}
	if l, ok := jsonLevel(text); ok {
		return l
	}
	if l, ok := logfmtLevel(text); ok {
		return l
	}
	return wordLevel(text[:min(len(text), wordWindow)])
}

var jsonKeys = [][]byte{[]byte(`"level"`), []byte(`"lvl"`), []byte(`"severity"`), []byte(`"log.level"`)}

func jsonLevel(text []byte) (Level, bool) {
	t := skipSpace(text)
	if len(t) == 0 || t[0] != '{' {
		return LevelNone, false
	}
	for _, k := range jsonKeys {
		i := bytes.Index(t, k)
		if i < 0 {
			continue
		}
		v := skipSpace(t[i+len(k):])
		if len(v) == 0 || v[0] != ':' {
			continue
		}
		v = skipSpace(v[1:])
		if len(v) > 0 && v[0] == '"' {
			end := bytes.IndexByte(v[1:], '"')
			if end < 0 {
				continue
			}
			return levelWordFold(v[1 : 1+end])
		}
		n := 0
		for _, c := range v {
			if c < '0' || c > '9' {
				break
			}
			n = n*10 + int(c-'0')
			if n > 100 {
				break
			}
		}
		switch {
		case n >= 60:
			return LevelFatal, true
		case n >= 50:
			return LevelError, true
		case n >= 40:
			return LevelWarn, true
		case n >= 30:
			return LevelInfo, true
		case n >= 20:
			return LevelDebug, true
		case n >= 10:
			return LevelTrace, true
		}
	}
	return LevelNone, false
}

func logfmtLevel(text []byte) (Level, bool) {
	for off := 0; off < len(text); {
		i := bytes.IndexByte(text[off:], '=')
		if i < 0 {
			break
		}
		i += off
		off = i + 1
		k := i
		for k > 0 && isLetter(text[k-1]) {
			k--
		}
		if k > 0 && isWordByte(text[k-1]) {
			continue
		}
		switch string(text[k:i]) {
		case "level", "lvl", "severity":
		default:
			continue
		}
		v := text[i+1:]
		if len(v) > 0 && v[0] == '"' {
			v = v[1:]
		}
		end := 0
		for end < len(v) && isLetter(v[end]) {
			end++
		}
		if l, ok := levelWordFold(v[:end]); ok {
			return l, true
		}
	}
	return LevelNone, false
}

func wordLevel(text []byte) Level {
	for i := 0; i < len(text); {
		if !isLetter(text[i]) {
			i++
			continue
		}
		j := i
		for j < len(text) && isLetter(text[j]) {
			j++
		}
		w := text[i:j]
		// Only a word in a level's place is looked up: in capitals, in
		// brackets, or before a colon at the start of the line. Most
		// words are none of these and cost a few comparisons.
		candidate := len(w) >= 3 && len(w) <= 11 &&
			!(i > 0 && isDigitOrUnderscore(text[i-1]) || j < len(text) && isDigitOrUnderscore(text[j]))
		if candidate {
			colon := j < len(text) && text[j] == ':'
			upper := isUpper(w) && (string(w) != "LOG" || colon)
			bracketed := i > 0 && j < len(text) && (text[i-1] == '[' && text[j] == ']' || text[i-1] == '<' && text[j] == '>')
			colonAtStart := colon && len(skipSpace(text[:i])) == 0
			if upper || bracketed || colonAtStart {
				if l, ok := levelWordFold(w); ok {
					return l
				}
			}
		}
		i = j
	}
	return LevelNone
}

// levelWordFold is levelWord for a word in any case, without allocating.
func levelWordFold(w []byte) (Level, bool) {
	var lower [16]byte
	if len(w) > len(lower) {
		return LevelNone, false
	}
	lw := lower[:len(w)]
	for k, c := range w {
		if c >= 'A' && c <= 'Z' {
			c |= 0x20
		}
		lw[k] = c
	}
	return levelWord(lw)
}

// skipSpace drops leading spaces and tabs (bytes.TrimLeft builds a set on
// every call).
func skipSpace(p []byte) []byte {
	for len(p) > 0 && (p[0] == ' ' || p[0] == '\t') {
		p = p[1:]
	}
	return p
}

func isLetter(c byte) bool            { return c|0x20 >= 'a' && c|0x20 <= 'z' }
func isWordByte(c byte) bool          { return isLetter(c) || isDigitOrUnderscore(c) }
func isDigitOrUnderscore(c byte) bool { return c >= '0' && c <= '9' || c == '_' }
func isUpper(w []byte) bool {
	if w[0] < 'A' || w[0] > 'Z' {
		return false
	}
	for _, c := range w {
		if c < 'A' || c > 'Z' {
			return false
		}
	}
	return true
}

// stripANSI appends p to dst without its ANSI escape sequences (CSI
// sequences such as colours, and two-byte escapes).
func stripANSI(dst, p []byte) []byte {
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c != 0x1b {
			dst = append(dst, c)
			continue
		}
		if i+1 < len(p) && p[i+1] == '[' {
			i += 2
			for i < len(p) && (p[i] < 0x40 || p[i] > 0x7e) {
				i++
			}
			continue
		}
		i++ // ESC and the byte after it
	}
	return dst
}
