package logline

import (
	"strconv"
	"strings"
)

// Options shape the payload of the data lines.
type Options struct {
	Size int  // payload bytes (at least the prefix); 0 means 100
	ANSI bool // colour parts of the payload with SGR escapes
	UTF8 bool // mix multibyte runes (2, 3 and 4 bytes) into the payload
	JSON bool // make the payload a JSON object, as structured loggers write
}

// Kind says what a parsed line is.
type Kind uint8

// The kinds of lines a generator writes.
const (
	Data  Kind = iota + 1 // "<seq> <emit_ns> <run> <payload>"
	Ready                 // "READY <run>": written before waiting for the gate
	End                   // "END <run> <count>": after the last data line of a run
)

// Line is a parsed line.
type Line struct {
	Kind    Kind
	Seq     uint64
	EmitNS  int64 // wall clock (Unix ns) just before the line's write(2)
	Run     int64 // the generator's start time, distinct for every run
	Count   uint64
	Payload string
}

// AppendData appends a data line, with its newline, to b.
func AppendData(b []byte, seq uint64, emitNS, run int64, payload string) []byte {
	b = strconv.AppendUint(b, seq, 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, emitNS, 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, run, 10)
	b = append(b, ' ')
	b = append(b, payload...)
	return append(b, '\n')
}

// ReadyLine is the line a generator writes before it waits for the gate.
func ReadyLine(run int64) string { return "READY " + strconv.FormatInt(run, 10) + "\n" }

// EndLine is the line a generator writes after the last data line of a run.
func EndLine(run int64, count uint64) string {
	return "END " + strconv.FormatInt(run, 10) + " " + strconv.FormatUint(count, 10) + "\n"
}

// Parse reads a line without its newline (a trailing '\r', as a TTY adds,
// is ignored). It reports false for anything the generator did not write.
func Parse(s string) (Line, bool) {
	s = strings.TrimSuffix(s, "\r")
	if rest, ok := strings.CutPrefix(s, "READY "); ok {
		run, err := strconv.ParseInt(rest, 10, 64)
		return Line{Kind: Ready, Run: run}, err == nil
	}
	if rest, ok := strings.CutPrefix(s, "END "); ok {
		a, b, ok := strings.Cut(rest, " ")
		if !ok {
			return Line{}, false
		}
		run, err1 := strconv.ParseInt(a, 10, 64)
		n, err2 := strconv.ParseUint(b, 10, 64)
		return Line{Kind: End, Run: run, Count: n}, err1 == nil && err2 == nil
	}
	f1, rest, ok1 := strings.Cut(s, " ")
	f2, rest, ok2 := strings.Cut(rest, " ")
	f3, payload, ok3 := strings.Cut(rest, " ")
	if !ok1 || !ok2 || !ok3 {
		return Line{}, false
	}
	seq, err1 := strconv.ParseUint(f1, 10, 64)
	emit, err2 := strconv.ParseInt(f2, 10, 64)
	run, err3 := strconv.ParseInt(f3, 10, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return Line{}, false
	}
	return Line{Kind: Data, Seq: seq, EmitNS: emit, Run: run, Payload: payload}, true
}

// The fillers payloads are cut from. utf8Filler has runes of 2, 3 and 4
// bytes; ansiFiller has SGR colour sequences around plain words.
const (
	asciiFiller = "the quick brown fox jumps over the lazy dog 0123456789 "
	utf8Filler  = "día über naïve €uro 東京 😀 ok "
	ansiFiller  = "\x1b[31merror\x1b[0m \x1b[1;32mok\x1b[0m plain \x1b[33mwarn\x1b[0m "
	ansiUTF8    = "\x1b[31mérreur\x1b[0m \x1b[1;32m東京\x1b[0m 😀 \x1b[33mwarn\x1b[0m "
)

// Payload returns the payload of data line seq. It is deterministic, so a
// consumer can compare what it received with what was written. Its length
// is o.Size bytes, except that it never cuts a rune or an escape sequence
// and so may be a few bytes shorter.
func Payload(seq uint64, o Options) string {
	size := o.Size
	if size <= 0 {
		size = 100
	}
	filler := asciiFiller
	switch {
	case o.ANSI && o.UTF8:
		filler = ansiUTF8
	case o.ANSI:
		filler = ansiFiller
	case o.UTF8:
		filler = utf8Filler
	}
	var b strings.Builder
	b.Grow(size + 8)
	if o.JSON {
		b.WriteString(`{"level":"info","seq":`)
		b.WriteString(strconv.FormatUint(seq, 10))
		b.WriteString(`,"msg":"`)
	} else {
		b.WriteString("p")
		b.WriteString(strconv.FormatUint(seq, 10))
		b.WriteString(": ")
	}
	tail := 0
	if o.JSON {
		tail = len(`"}`)
		// JSON strings cannot hold raw escapes; the fillers are otherwise
		// valid JSON string content.
		if o.ANSI {
			filler = asciiFiller
		}
	}
	// Rotate the filler by seq so consecutive lines differ.
	start := int(seq % uint64(len(filler)))
	for start > 0 && !cutOK(filler, start) {
		start--
	}
	for b.Len()+tail < size {
		chunk := filler[start:]
		start = 0
		room := size - tail - b.Len()
		if len(chunk) > room {
			end := room
			for end > 0 && !cutOK(chunk, end) {
				end--
			}
			if end == 0 {
				break
			}
			chunk = chunk[:end]
		}
		b.WriteString(chunk)
	}
	if o.JSON {
		b.WriteString(`"}`)
	}
	return b.String()
}

// cutOK reports whether s may be cut before index i: not inside a UTF-8
// sequence nor inside an escape sequence.
func cutOK(s string, i int) bool {
	if i >= len(s) {
		return true
	}
	if s[i]&0xC0 == 0x80 {
		return false
	}
	// Inside "\x1b[...m"?
	if j := strings.LastIndexByte(s[:i], 0x1b); j >= 0 && !strings.ContainsRune(s[j:i], 'm') {
		return false
	}
	return true
}
