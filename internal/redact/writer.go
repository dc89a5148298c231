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
		// Keep back what could be the start of a secret cut in two.
		keep := min(len(l.partial)-1, l.r.longest()-1)
		cut := len(l.partial) - max(keep, 0)
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

// longest returns the length of the longest registered form.
func (r *Redactor) longest() int {
	n := 0
	if r != nil {
		for _, f := range r.forms {
			n = max(n, len(f.value))
		}
	}
	return n
}
