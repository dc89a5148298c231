package logstore

import (
	"cmp"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/carto-setup/carto-setup/internal/logstream"
)

// timeline is the writer's side of one service's timeline. Its fields are
// guarded by mu.
type timeline struct {
	s         *Store
	name, dir string

	mu      sync.Mutex
	f       *os.File
	size    int64  // bytes written to the current segment
	buf     []byte // records not written yet
	segs    []segment
	lastSeq uint64
	broken  time.Time // a write failed and could not be undone: start a new segment, at most once a second
	// stateEnd is the size of the current segment's magic and state:
	// a segment no larger holds no record yet.
	stateEnd int64
	closed   bool // the store was closed: drop what comes

	lines, errs int64 // records and error-level records since the timeline began
	lastError   time.Time
	newest      time.Time
	conts       map[string]*cont
	nextIdx     uint64
	tick        uint64
	gens        map[int]logstream.Generation
}

// cont is a container a timeline's lines refer to.
type cont struct {
	idx      uint64
	id, name string
	pos      logstream.Position
	used     uint64 // tick of its last line, to forget the least active first
}

func (s *Store) newTimeline(name string) *timeline {
	return &timeline{s: s, name: name, dir: filepath.Join(s.cfg.Dir, name),
		conts: map[string]*cont{}, gens: map[int]logstream.Generation{}}
}

func (tl *timeline) keep() int { return int(tl.s.cfg.MaxBytes / tl.s.cfg.SegmentBytes) }

// maxText bounds one record's text, so that a record always fits in a
// segment with its state.
func (tl *timeline) maxText() int { return int(min(tl.s.cfg.SegmentBytes/4, logstream.MaxLine)) }

func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// append encodes a line or marker into the buffer, masking its text in
// place, and writes the buffer out once it is large. It reports whether
// the line's container is new to the timeline.
func (tl *timeline) append(id string, l *logstream.Line, masker *logstream.Masker) (bool, error) {
	if err := tl.ready(); err != nil {
		return false, err
	}
	text, truncated := l.Text, l.Truncated
	if m := tl.maxText(); len(text) > m {
		text, truncated = cutUTF8(text, m), true
	}
	r := lineRec{stream: l.Stream, ts: unixNano(l.TS)}
	if r.ts == 0 {
		// A daemon error: shown where it arrived, and not a position.
		r.ts, r.flags = time.Now().UnixNano(), flagNoTS
	}
	if truncated {
		r.flags |= flagTruncated
	}
	isLine := id != "" && l.Stream != logstream.Marker
	c := tl.conts[id]
	declare := isLine && (c == nil || c.name != l.Container)
	size := recHeader + 1 + 3 + 8 + uvarintLen(uint64(len(l.Marker))) + len(l.Marker) + len(text)
	if isLine {
		size += uvarintLen(tl.nextIdx)
	} else {
		size += uvarintLen(uint64(len(l.Container))) + len(l.Container)
	}
	if declare {
		size += recHeader + 1 + uvarintLen(tl.nextIdx) + uvarintLen(uint64(len(id))) + len(id) + len(l.Container)
	}
	if err := tl.makeRoom(size); err != nil {
		return false, err
	}
	newCont := false
	if declare {
		if c == nil {
			c = &cont{idx: tl.nextIdx, id: id}
			tl.nextIdx++
			tl.conts[id] = c
			newCont = true
			tl.forgetIdle()
		}
		c.name = l.Container
		tl.buf = appendContainer(tl.buf, c.idx, id, c.name)
	}
	if isLine {
		r.idx = c.idx
	} else {
		r.flags |= flagInlineName
	}
	buf, start := beginRecord(tl.buf, recLine)
	buf = append(buf, byte(r.stream), r.flags, 0)
	buf = binary.LittleEndian.AppendUint64(buf, uint64(r.ts))
	if isLine {
		buf = binary.AppendUvarint(buf, r.idx)
	} else {
		buf = binary.AppendUvarint(buf, uint64(len(l.Container)))
		buf = append(buf, l.Container...)
	}
	buf = binary.AppendUvarint(buf, uint64(len(l.Marker)))
	buf = append(buf, l.Marker...)
	at := len(buf)
	buf = append(buf, text...)
	// Mask in place: the masker returns its argument when there is
	// nothing to mask, which is almost always.
	if m := masker.Mask(buf[at:]); len(m) != len(buf)-at || len(m) > 0 && &m[0] != &buf[at] {
		buf = append(buf[:at], m...)
	}
	level := markerLevel(l.Marker)
	if l.Stream != logstream.Marker {
		level = DetectLevel(buf[at:])
	}
	buf[start+levelOffset] = byte(level)
	endRecord(buf, start)
	tl.buf = buf

	tl.count(r.ts, level)
	if isLine {
		c.pos.Advance(l.Stream, l.TS)
		tl.tick++
		c.used = tl.tick
	}
	if len(tl.buf) >= bufferBytes {
		return newCont, tl.flush()
	}
	return newCont, nil
}

// markerLevel is the level a marker counts as: a failed exit is an error.
func markerLevel(kind string) Level {
	if kind == logstream.MarkFailed {
		return LevelError
	}
	return LevelNone
}

func (tl *timeline) count(ts int64, level Level) {
	tl.lines++
	t := time.Unix(0, ts)
	if level >= LevelError {
		tl.errs++
		if t.After(tl.lastError) {
			tl.lastError = t
		}
	}
	if t.After(tl.newest) {
		tl.newest = t
	}
}

func (tl *timeline) setGeneration(number int, g logstream.Generation) error {
	if err := tl.ready(); err != nil {
		return err
	}
	js, err := json.Marshal(g)
	if err != nil {
		return err
	}
	if err := tl.makeRoom(recHeader + 1 + uvarintLen(uint64(number)) + len(js)); err != nil {
		return err
	}
	tl.gens[number] = g
	tl.buf = appendGeneration(tl.buf, number, js)
	return nil
}

// ready makes sure a segment is open for writing.
func (tl *timeline) ready() error {
	if tl.closed {
		return errors.New("logstore: closed")
	}
	if tl.f != nil && tl.broken.IsZero() {
		return nil
	}
	if !tl.broken.IsZero() && time.Since(tl.broken) < time.Second {
		return errors.New("logstore: waiting to retry after a write error")
	}
	return tl.startSegment()
}

// makeRoom starts a new segment when a record of size bytes would make
// the current one pass SegmentBytes (unless it holds nothing but its
// state, where any record fits by maxText).
func (tl *timeline) makeRoom(size int) error {
	if tl.size+int64(len(tl.buf))+int64(size) <= tl.s.cfg.SegmentBytes || !tl.hasRecords() {
		return nil
	}
	return tl.startSegment()
}

// hasRecords reports whether the current segment holds more than its
// state record.
func (tl *timeline) hasRecords() bool { return tl.size+int64(len(tl.buf)) > tl.stateEnd }

// startSegment closes the current segment, if any, opens the next with a
// state record, and deletes the oldest segments beyond the cap.
func (tl *timeline) startSegment() error {
	if tl.f != nil {
		err := tl.flush()
		tl.f.Sync()
		tl.f.Close()
		tl.f = nil
		if err != nil {
			tl.broken = time.Now()
			return err
		}
	}
	if err := ownerOnlyDir(tl.dir); err != nil {
		tl.broken = time.Now()
		return err
	}
	tl.lastSeq++
	seg := segment{seq: tl.lastSeq, path: filepath.Join(tl.dir, segName(tl.lastSeq))}
	f, err := os.OpenFile(seg.path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o600)
	if err != nil {
		tl.broken = time.Now()
		return fmt.Errorf("logstore: new segment: %w", err)
	}
	js, err := json.Marshal(tl.state())
	if err != nil {
		f.Close()
		return err
	}
	tl.f, tl.size, tl.broken = f, 0, time.Time{}
	tl.buf = append(tl.buf[:0], segMagic...)
	buf, start := beginRecord(tl.buf, recState)
	buf = append(buf, js...)
	endRecord(buf, start)
	tl.buf = buf
	tl.stateEnd = int64(len(buf))
	tl.segs = append(tl.segs, seg)
	// The new segment is counted at its full size: the timeline stays
	// within MaxBytes whatever it holds.
	for len(tl.segs) > tl.keep() {
		if err := os.Remove(tl.segs[0].path); err != nil && !errors.Is(err, os.ErrNotExist) {
			tl.s.cfg.Log.Warn("logstore: remove old segment", "err", err)
		}
		tl.segs = tl.segs[1:]
	}
	// Write the state at once, so that a reader (or a crash) never finds
	// a segment without it for long.
	return tl.flush()
}

func (tl *timeline) state() segState {
	st := segState{Service: tl.name, Lines: tl.lines, Errors: tl.errs, LastError: tl.lastError, Before: tl.newest,
		Generations: maps.Clone(tl.gens)}
	for _, c := range tl.conts {
		st.Containers = append(st.Containers, containerState{Idx: c.idx, ID: c.id, Name: c.name, Pos: c.pos})
	}
	slices.SortFunc(st.Containers, func(a, b containerState) int { return cmp.Compare(a.Idx, b.Idx) })
	return st
}

// forgetIdle drops the least recently active containers beyond
// maxContainers, so that the state record stays small.
func (tl *timeline) forgetIdle() {
	for len(tl.conts) > maxContainers {
		var oldest *cont
		for _, c := range tl.conts {
			if oldest == nil || c.used < oldest.used {
				oldest = c
			}
		}
		delete(tl.conts, oldest.id)
	}
}

// flush writes the buffer to the current segment. A failed write is undone
// (the file cut back to its last whole record) so that the segment stays
// readable past it; the buffered records are dropped.
func (tl *timeline) flush() error {
	if len(tl.buf) == 0 || tl.f == nil {
		return nil
	}
	n, err := tl.f.Write(tl.buf)
	tl.buf = tl.buf[:0]
	if err != nil {
		if n > 0 {
			if terr := tl.f.Truncate(tl.size); terr != nil {
				tl.broken = time.Now()
			}
		}
		return fmt.Errorf("logstore: write %s: %w", tl.name, err)
	}
	tl.size += int64(n)
	if cap(tl.buf) > 4*bufferBytes {
		tl.buf = nil // after a huge line
	}
	return nil
}

func (tl *timeline) close() error {
	if tl.f == nil {
		return nil
	}
	err := tl.flush()
	if serr := tl.f.Sync(); err == nil {
		err = serr
	}
	if cerr := tl.f.Close(); err == nil {
		err = cerr
	}
	tl.f = nil
	return err
}

// recover loads a timeline from its segments, cutting a torn tail off the
// last one and removing a last segment whose state never made it to disk,
// then reopens the last segment for appending.
func (tl *timeline) recover() error {
	segs, err := listSegments(tl.dir)
	if err != nil {
		return err
	}
	if len(segs) > 0 {
		tl.lastSeq = segs[len(segs)-1].seq
	}
	for len(segs) > 0 {
		last := segs[len(segs)-1]
		valid, ok, err := tl.load(last.path)
		if err != nil {
			return err
		}
		if !ok {
			if err := os.Remove(last.path); err != nil {
				return err
			}
			segs = segs[:len(segs)-1]
			continue
		}
		f, err := os.OpenFile(last.path, os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			return err
		}
		if valid < last.size {
			tl.s.cfg.Log.Info("logstore: cutting a torn record off the end of a segment", "segment", last.path, "bytes", last.size-valid)
			if err := f.Truncate(valid); err != nil {
				f.Close()
				return err
			}
		}
		tl.f, tl.size = f, valid
		break
	}
	tl.segs = segs
	for len(tl.segs) > tl.keep() && len(tl.segs) > 1 {
		os.Remove(tl.segs[0].path)
		tl.segs = tl.segs[1:]
	}
	return nil
}

// load reads a segment into the timeline's state and returns how many of
// its bytes are whole records; ok is false if it has no valid state.
func (tl *timeline) load(path string) (valid int64, ok bool, err error) {
	sr, err := openSegment(path)
	if errors.Is(err, errTorn) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	defer sr.close()
	byIdx := map[uint64]*cont{}
	for {
		p, err := sr.next()
		if errors.Is(err, io.EOF) || errors.Is(err, errTorn) {
			return sr.off, ok, nil
		}
		if err != nil {
			return 0, false, err
		}
		if !ok {
			if p[0] != recState {
				return 0, false, nil
			}
			var st segState
			if err := json.Unmarshal(p[1:], &st); err != nil {
				return 0, false, nil
			}
			tl.fromState(st, byIdx)
			tl.stateEnd = sr.off
			ok = true
			continue
		}
		switch p[0] {
		case recContainer:
			idx, id, name, err := decodeContainer(p)
			if err != nil {
				return sr.off, ok, nil
			}
			c := tl.conts[id]
			if c == nil {
				c = &cont{idx: idx, id: id}
				tl.conts[id] = c
			}
			c.name = name
			byIdx[idx] = c
			tl.nextIdx = max(tl.nextIdx, idx+1)
		case recGeneration:
			n, js, err := decodeGeneration(p)
			var g logstream.Generation
			if err == nil && json.Unmarshal(js, &g) == nil {
				tl.gens[n] = g
			}
		case recLine:
			r, err := decodeLine(p)
			if err != nil {
				return sr.off, ok, nil
			}
			tl.count(r.ts, r.level)
			if c := byIdx[r.idx]; c != nil && r.flags&(flagInlineName|flagNoTS) == 0 && r.stream != logstream.Marker {
				c.pos.Advance(r.stream, time.Unix(0, r.ts).UTC())
				tl.tick++
				c.used = tl.tick
			}
		}
	}
}

func (tl *timeline) fromState(st segState, byIdx map[uint64]*cont) {
	tl.lines, tl.errs, tl.lastError, tl.newest = st.Lines, st.Errors, st.LastError, st.Before
	tl.conts = map[string]*cont{}
	for _, cs := range st.Containers {
		c := &cont{idx: cs.Idx, id: cs.ID, name: cs.Name, pos: cs.Pos}
		tl.conts[cs.ID] = c
		byIdx[cs.Idx] = c
		tl.nextIdx = max(tl.nextIdx, cs.Idx+1)
	}
	tl.gens = map[int]logstream.Generation{}
	maps.Copy(tl.gens, st.Generations)
}

// cutUTF8 cuts s to at most n bytes without splitting a rune.
func cutUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
