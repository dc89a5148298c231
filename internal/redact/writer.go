package redact

import (
	"bytes"
	"io"
	"sync"
)

// MaxLine is the longest partial line a LineWriter holds before it writes
// it out as a line of its own.
const MaxLine = 64 << 10

// LineWriter masks a stream line by line before it reaches w, so that a
// secret split across two writes is still seen whole. It also masks, line by
// line, the body of a PEM private key written out line by line, whether or
// not the key is registered. Writes are serialised, so several producers
// (a command's output and progress lines) can share one.
type LineWriter struct {
	mu      sync.Mutex
	w       io.Writer
	r       *Redactor
	partial []byte
	inKey   bool // inside a PEM private key, between its BEGIN and END lines
}

// NewLineWriter returns a LineWriter that masks with r into w.
func NewLineWriter(w io.Writer, r *Redactor) *LineWriter {
	return &LineWriter{w: w, r: r}
}

// Write masks and forwards every complete line of p; the rest waits for
// its line break, Line or Flush. It reports len(p) unless w fails.
func (l *LineWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.partial = append(l.partial, p...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			break
		}
		err := l.emit(l.partial[:i+1])
		l.partial = l.partial[i+1:]
		if err != nil {
			return len(p), err
		}
	}
	if len(l.partial) > MaxLine {
		cut := l.r.safeCut(l.partial)
		err := l.emit(append(l.partial[:cut:cut], '\n'))
		l.partial = append([]byte(nil), l.partial[cut:]...)
		if err != nil {
			return len(p), err
		}
	}
	return len(p), nil
}

// Line writes s as one whole line, after any pending partial line.
func (l *LineWriter) Line(s string) error {
	if err := l.Flush(); err != nil {
		return err
	}
	_, err := l.Write([]byte(s + "\n"))
	return err
}

// Flush writes a pending partial line, ended with a line break.
func (l *LineWriter) Flush() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.partial) == 0 {
		return nil
	}
	err := l.emit(append(l.partial, '\n'))
	l.partial = nil
	return err
}

// emit masks one line (with its line break) and writes it.
func (l *LineWriter) emit(line []byte) error {
	begin := bytes.Contains(line, []byte("-----BEGIN ")) && bytes.Contains(line, pemMarker)
	end := bytes.Contains(line, []byte("-----END ")) && bytes.Contains(line, pemMarker)
	var out []byte
	switch {
	case l.inKey && !end:
		out = []byte(Mask + "\n")
	default:
		// Without its line break, so that a mask running to the end of
		// the text (a PEM key that starts here) keeps the break.
		body := bytes.TrimSuffix(line, []byte("\n"))
		masked := l.r.Mask(body)
		out = append(masked[:len(masked):len(masked)], line[len(body):]...)
	}
	if begin && !end {
		l.inKey = true
	} else if end {
		l.inKey = false
	}
	_, err := l.w.Write(out)
	return err
}

// safeCut returns where an over-long partial line can be cut without
// showing a secret: it keeps back the last bytes that could be the start
// of a registered value still being written, and moves the cut before any
// secret (and before the key name of a value masked by name) that would
// otherwise straddle it. It returns len(data) when no cut is safe (one
// secret fills the line), masking the whole.
func (r *Redactor) safeCut(data []byte) int {
	if r == nil {
		return len(data)
	}
	longest := 0
	for _, f := range r.forms {
		longest = max(longest, len(f.value))
	}
	cut := len(data) - max(longest-1, 0)
	spans := r.find(data)
	for moved := true; moved && cut > 0; {
		moved = false
		for _, s := range spans {
			if s.from < cut && cut < s.end {
				cut, moved = s.from, true
			}
		}
	}
	if cut <= 0 {
		return len(data)
	}
	return cut
}
