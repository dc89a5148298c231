package logstream

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"
	"unicode/utf8"
)

// Stream names the output of a container a line was written to.
type Stream uint8

// The streams of Docker's multiplexed log format. Stdin (0) never carries
// log output; the decoder reports it as Stdout, as stdcopy does.
const (
	Stdout Stream = 1
	Stderr Stream = 2
	// System carries errors the daemon reports in-band while serving logs.
	System Stream = 3
	// Marker is not a stream of the container but a line the wizard adds
	// to a service's timeline: the container was recreated, restarted or
	// changed image, or an install began (Line.Marker says which).
	Marker Stream = 4
)

// String returns "stdout", "stderr", "system" or "marker".
func (s Stream) String() string {
	switch s {
	case Stdout:
		return "stdout"
	case Stderr:
		return "stderr"
	case System:
		return "system"
	case Marker:
		return "marker"
	}
	return fmt.Sprintf("stream(%d)", uint8(s))
}

// MarshalText encodes the stream as its name, so that JSON carries
// "stdout" rather than a number. For the named streams it returns a shared
// slice, so that encoding a line allocates nothing for its stream: the
// result must not be modified. (encoding/json quotes a text without the
// re-scan it gives a MarshalJSON result, which makes this the cheap way.)
func (s Stream) MarshalText() ([]byte, error) {
	if int(s) < len(streamNames) && streamNames[s] != nil {
		return streamNames[s], nil
	}
	return []byte(s.String()), nil
}

var streamNames = [...][]byte{Stdout: []byte("stdout"), Stderr: []byte("stderr"), System: []byte("system"), Marker: []byte("marker")}

// UnmarshalText decodes a stream name written by MarshalText.
func (s *Stream) UnmarshalText(b []byte) error {
	for _, v := range []Stream{Stdout, Stderr, System, Marker} {
		if string(b) == v.String() {
			*s = v
			return nil
		}
	}
	return fmt.Errorf("logstream: unknown stream %q", b)
}

const (
	// MaxFrame is the largest frame payload the decoder accepts. The daemon
	// cuts lines at 16 KiB, so a larger header means a corrupt or hostile
	// stream; stdcopy would allocate whatever the header claims.
	MaxFrame = 1 << 20
	// MaxLine caps an assembled line. The rest of a longer line is dropped
	// and the record is marked Truncated, so a runaway writer that never
	// prints a newline cannot grow memory without bound.
	MaxLine = 1 << 20
)

// ErrFrameTooLarge is returned when a frame header declares a payload larger
// than MaxFrame.
var ErrFrameTooLarge = errors.New("logstream: frame too large")

// Record is one assembled line as the decoder returns it. Text has no
// trailing newline or carriage return and, like the whole Record, is only
// valid until the next call to Next.
type Record struct {
	Stream    Stream
	TS        time.Time // daemon timestamp; zero if the line carried none
	Text      []byte
	Truncated bool // the line was longer than MaxLine and was cut
}

// assembler joins the chunks of one stream into lines. There is one per
// stream, because a stderr frame may arrive between two chunks of a split
// stdout line.
type assembler struct {
	buf       []byte
	ts        time.Time
	truncated bool // buf hit MaxLine; the rest of the line is discarded
}

// Decoder reads a Docker log stream and returns it line by line. It parses
// the 8-byte stdcopy frame headers itself (or reads the raw stream of a TTY
// container), joins the 16 KiB chunks the daemon splits long lines into,
// strips the per-chunk timestamps requested with Timestamps, trims a trailing
// '\r' and flushes a last line without newline at end of stream.
type Decoder struct {
	r          *bufio.Reader
	tty        bool
	timestamps bool

	hdr      [8]byte
	frame    []byte // current payload: into r's buffer, or into big
	big      []byte // storage for frames larger than r's buffer
	peeked   int    // bytes of r to discard once frame is consumed
	off      int    // consumed part of frame
	stream   Stream // stream of the current frame
	start    bool   // frame starts a new daemon message (timestamp first)
	ttyStart bool   // next TTY bytes start a new daemon message
	ttyLen   int    // bytes of the current TTY message read so far

	asm      [4]assembler
	flushNow Stream     // a stream whose pending line must be returned next
	reset    *assembler // emitted last call; cleared on the next
	done     bool       // the underlying reader is finished
	err      error      // returned once every pending line is flushed
}

// NewDecoder returns a decoder for a log stream read from r. tty says the
// container has a terminal, so the stream is raw rather than multiplexed;
// timestamps says the stream was requested with Timestamps, so every daemon
// message starts with an RFC3339Nano timestamp and a space.
func NewDecoder(r io.Reader, tty, timestamps bool) *Decoder {
	return &Decoder{r: bufio.NewReaderSize(r, 32<<10), tty: tty, timestamps: timestamps, ttyStart: true}
}

// Next returns the next complete line. At the end of the stream it first
// returns the pending partial lines, then io.EOF. A corrupt or truncated
// stream ends the same way but with an error that says what was wrong; an
// error of the underlying reader is returned at once, dropping partial
// lines, since the caller re-reads from the line's timestamp anyway.
func (d *Decoder) Next() (Record, error) {
	if d.reset != nil {
		d.reset.buf = d.reset.buf[:0]
		d.reset.truncated = false
		d.reset = nil
	}
	for {
		if d.off < len(d.frame) {
			if rec, ok := d.consume(); ok {
				return rec, nil
			}
			continue
		}
		if d.peeked > 0 {
			d.r.Discard(d.peeked)
			d.peeked = 0
		}
		d.frame, d.off = nil, 0
		if s := d.flushNow; s != 0 {
			d.flushNow = 0
			return d.emit(&d.asm[s], s), nil
		}
		if d.done {
			for i := range d.asm {
				if a := &d.asm[i]; pending(a) {
					return d.emit(a, Stream(i)), nil
				}
			}
			return Record{}, d.err
		}
		if err := d.read(); err != nil {
			return Record{}, err
		}
	}
}

// read loads the next frame (or TTY chunk) into d.frame. It returns only
// errors of the underlying reader; end of stream and corruption set d.done
// and d.err so that pending lines are flushed first.
func (d *Decoder) read() error {
	if d.tty {
		return d.readTTY()
	}
	n, err := io.ReadFull(d.r, d.hdr[:])
	switch {
	case err == nil:
	case errors.Is(err, io.EOF):
		d.done, d.err = true, io.EOF
		return nil
	case errors.Is(err, io.ErrUnexpectedEOF):
		d.done, d.err = true, fmt.Errorf("logstream: truncated frame header (%d of 8 bytes): %w", n, io.ErrUnexpectedEOF)
		return nil
	default:
		return err
	}
	kind, size := d.hdr[0], binary.BigEndian.Uint32(d.hdr[4:])
	switch kind {
	case 0, 1:
		d.stream = Stdout
	case 2:
		d.stream = Stderr
	case 3:
		d.stream = System
	default:
		d.done, d.err = true, fmt.Errorf("logstream: unknown stream type %d in frame header", kind)
		return nil
	}
	if size > MaxFrame {
		d.done, d.err = true, fmt.Errorf("%w: header declares %d bytes, limit %d", ErrFrameTooLarge, size, MaxFrame)
		return nil
	}
	d.start = true
	if int(size) <= d.r.Size() {
		// Read the payload in place from the bufio buffer; it stays valid
		// until Discard, which happens only after the frame is consumed.
		p, err := d.r.Peek(int(size))
		d.frame, d.peeked = p, len(p)
		if err != nil {
			return d.short(len(p), int(size), err)
		}
		return nil
	}
	if cap(d.big) < int(size) {
		d.big = make([]byte, size)
	}
	m, err := io.ReadFull(d.r, d.big[:size])
	d.frame = d.big[:m]
	if err != nil {
		return d.short(m, int(size), err)
	}
	return nil
}

// splitSize is where the daemon cuts a line into partial messages
// (daemon/logger/copier.go, 16 KiB).
const splitSize = 16 << 10

// readTTY loads the next part of a raw stream as a frame. The raw stream has
// no headers, but with timestamps every daemon message still starts with
// one, including the continuations of a line the daemon cut after splitSize
// bytes. So a frame ends at a newline, at a cut, or where the buffered data
// ends, and the decoder knows when the next bytes are a timestamp.
func (d *Decoder) readTTY() error {
	p, err := d.r.Peek(max(1, d.r.Buffered()))
	if len(p) == 0 {
		if errors.Is(err, io.EOF) {
			d.done, d.err = true, io.EOF
			return nil
		}
		return err
	}
	d.stream, d.start = Stdout, false
	hdr := 0
	if d.ttyStart && d.timestamps {
		// Wait until the timestamp is complete before judging it.
		for len(p) < 40 && bytes.IndexByte(p, ' ') < 0 {
			q, err := d.r.Peek(len(p) + 1)
			p = q
			if err != nil {
				if !errors.Is(err, io.EOF) {
					return err
				}
				break
			}
		}
		if ts, rest, ok := cutTimestamp(p); ok {
			a := &d.asm[Stdout]
			if pending(a) && !ts.Equal(a.ts) {
				// A new message after a last line without newline (see
				// consume): have Next end the pending line first. This is
				// seen only at a cut; elsewhere a raw stream gives no sign
				// where such a line ends, so it is glued to the next one.
				d.flushNow, d.frame, d.peeked = Stdout, nil, 0
				return nil
			}
			if !pending(a) {
				a.ts = ts
			}
			hdr = len(p) - len(rest)
		}
	}
	content := p[hdr:]
	limit := splitSize - d.ttyLen
	var n int
	if i := bytes.IndexByte(content[:min(len(content), limit)], '\n'); i >= 0 {
		n, d.ttyStart, d.ttyLen = i+1, true, 0
	} else if len(content) >= limit {
		n, d.ttyStart, d.ttyLen = limit, true, 0
	} else {
		n, d.ttyStart = len(content), false
		d.ttyLen += n
	}
	d.frame, d.off, d.peeked = p[:hdr+n], hdr, hdr+n
	return nil
}

// short handles a payload that ended early: what arrived is kept and
// flushed, then the stream ends with an error.
func (d *Decoder) short(got, want int, err error) error {
	if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		return err
	}
	d.done, d.err = true, fmt.Errorf("logstream: truncated frame payload (%d of %d bytes): %w", got, want, io.ErrUnexpectedEOF)
	return nil
}

// consume takes the next line, or the last chunk of a partial line, out of
// the current frame. It reports whether a line is complete.
func (d *Decoder) consume() (Record, bool) {
	a := &d.asm[d.stream]
	p := d.frame[d.off:]
	if d.start {
		d.start = false
		if d.timestamps {
			// Every chunk of a split line carries the first chunk's
			// timestamp, so a continuation's is simply cut off.
			if ts, rest, ok := cutTimestamp(p); ok {
				if pending(a) && !ts.Equal(a.ts) {
					// Not a continuation (those repeat the first chunk's
					// timestamp) but a new message after a last line
					// without newline, e.g. the next run of a restarted
					// container: end the pending line first.
					d.start = true
					return d.emit(a, d.stream), true
				}
				if !pending(a) {
					a.ts = ts
				}
				d.off += len(p) - len(rest)
				p = rest
			}
		}
	}
	i := bytes.IndexByte(p, '\n')
	if i < 0 {
		a.add(p)
		d.off = len(d.frame)
		if d.stream == System {
			// The daemon writes one error per frame, without a newline.
			return d.emit(a, System), true
		}
		return Record{}, false
	}
	d.off += i + 1
	if !pending(a) && i <= MaxLine {
		// The common case: a whole line inside one frame, returned
		// without copying.
		return Record{Stream: d.stream, TS: a.ts, Text: trimCR(p[:i])}, true
	}
	a.add(p[:i])
	return d.emit(a, d.stream), true
}

// pending reports whether a holds part of a line.
func pending(a *assembler) bool { return len(a.buf) > 0 || a.truncated }

// add appends a chunk, enforcing MaxLine.
func (a *assembler) add(p []byte) {
	if a.truncated {
		return
	}
	if room := MaxLine - len(a.buf); len(p) > room {
		p = p[:room]
		// Do not leave half a UTF-8 sequence at the cut.
		if ls := lastRuneStart(p); ls >= 0 && !utf8.FullRune(p[ls:]) {
			p = p[:ls]
		}
		a.truncated = true
	}
	a.buf = append(a.buf, p...)
}

// lastRuneStart returns the index where the last (possibly incomplete)
// UTF-8 sequence of p begins.
func lastRuneStart(p []byte) int {
	for i := len(p) - 1; i >= 0 && i >= len(p)-utf8.UTFMax; i-- {
		if utf8.RuneStart(p[i]) {
			return i
		}
	}
	return -1
}

// emit returns the assembled line of a and schedules a to be cleared on the
// next call, so that Text stays valid until then.
func (d *Decoder) emit(a *assembler, s Stream) Record {
	d.reset = a
	return Record{Stream: s, TS: a.ts, Text: trimCR(a.buf), Truncated: a.truncated}
}

func trimCR(p []byte) []byte {
	if len(p) > 0 && p[len(p)-1] == '\r' {
		return p[:len(p)-1]
	}
	return p
}

// cutTimestamp parses the timestamp before the first space of p and returns
// it with the rest of p. It reports false, leaving p alone, when p does not
// start with a timestamp (the daemon's in-band errors carry none).
func cutTimestamp(p []byte) (time.Time, []byte, bool) {
	sp := bytes.IndexByte(p[:min(len(p), 40)], ' ')
	if sp < len("2006-01-02T15:04:05Z") {
		return time.Time{}, p, false
	}
	ts, ok := parseTimestamp(p[:sp])
	if !ok {
		return time.Time{}, p, false
	}
	return ts, p[sp+1:], true
}

// parseTimestamp parses the daemon's RFC3339Nano UTC timestamps
// ("2006-01-02T15:04:05.999999999Z") without allocating, and falls back to
// time.Parse for other offsets.
func parseTimestamp(b []byte) (time.Time, bool) {
	num := func(b []byte) (int, bool) {
		n := 0
		for _, c := range b {
			if c < '0' || c > '9' {
				return 0, false
			}
			n = n*10 + int(c-'0')
		}
		return n, true
	}
	if len(b) >= 20 && b[len(b)-1] == 'Z' && b[4] == '-' && b[7] == '-' && b[10] == 'T' && b[13] == ':' && b[16] == ':' {
		y, ok1 := num(b[0:4])
		mo, ok2 := num(b[5:7])
		dd, ok3 := num(b[8:10])
		h, ok4 := num(b[11:13])
		mi, ok5 := num(b[14:16])
		s, ok6 := num(b[17:19])
		ns := 0
		ok7 := true
		if frac := b[19 : len(b)-1]; len(frac) > 0 {
			if frac[0] != '.' || len(frac) < 2 || len(frac) > 10 {
				ok7 = false
			} else {
				ns, ok7 = num(frac[1:])
				for i := len(frac) - 1; i < 9; i++ {
					ns *= 10
				}
			}
		}
		if ok1 && ok2 && ok3 && ok4 && ok5 && ok6 && ok7 && mo >= 1 && mo <= 12 && dd >= 1 && dd <= 31 && h < 24 && mi < 60 && s < 61 {
			return time.Date(y, time.Month(mo), dd, h, mi, s, ns, time.UTC), true
		}
		return time.Time{}, false
	}
	ts, err := time.Parse(time.RFC3339Nano, string(b))
	return ts, err == nil
}
