package logstore

import (
	"bytes"
	"cmp"
	"container/heap"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/carto-setup/carto-setup/internal/logstream"
)

// Record is one line or marker as a query returns it. Its JSON is the
// logs command's contract: service, container, time, stream, text.
type Record struct {
	Service   string    `json:"service"`
	Container string    `json:"container"`
	Time      time.Time `json:"time"`
	// Stream is "stdout", "stderr", "system" (an error the daemon
	// reported) or "marker" (a line the wizard added: see Marker).
	Stream    string `json:"stream"`
	Text      string `json:"text"`
	Marker    string `json:"-"` // the kind of marker (logstream.MarkRecreated, ...)
	Level     Level  `json:"-"`
	Truncated bool   `json:"-"`
}

// TimeLayout is how a record's time is shown: UTC, to the millisecond,
// sortable as text.
const TimeLayout = "2006-01-02 15:04:05.000"

// MarkerPrefix begins the shown text of a marker.
const MarkerPrefix = "── "

// ShownText is a record's text as shown: a marker's begins with
// MarkerPrefix.
func ShownText(stream, text string) string {
	if stream == logstream.Marker.String() {
		return MarkerPrefix + text
	}
	return text
}

// String is the record as the Logs page shows and downloads it and the
// logs command prints it: time, service, " | ", text.
func (r Record) String() string {
	return r.Time.UTC().Format(TimeLayout) + " " + r.Service + " | " + ShownText(r.Stream, r.Text)
}

// ParseDuration reads how far back a view of the logs reaches: a Go
// duration ("90m", "6h") or a number of days ("7d"), positive.
func ParseDuration(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		if n, err := strconv.Atoi(days); err == nil && n > 0 && n <= 36500 {
			return time.Duration(n) * 24 * time.Hour, nil
		}
	} else if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return d, nil
	}
	return 0, fmt.Errorf("logstore: %q is not a duration such as 90m, 6h or 7d", s)
}

// Query selects records. Every condition given must hold.
type Query struct {
	// Services to read; empty means all. The project's markers
	// (logstream.ProjectService, an install or upgrade began) belong to
	// every service's timeline and are read with any selection.
	Services []string
	// Since is inclusive, Until exclusive; zero means unbounded.
	Since, Until time.Time
	// Grep is a regular expression (RE2 syntax) and Text a plain text
	// matched without regard to case; both are matched against the text
	// with its ANSI escapes removed.
	Grep string
	Text string
	// Levels keeps only the lines that declare one of these levels.
	Levels []Level
	// Offset skips and Limit (0: no limit) bounds the records returned.
	// With Newest they count from the newest record backwards (the last
	// page of a timeline); the records still come oldest first.
	Offset, Limit int
	Newest        bool
}

// Result is a page of records in time order, across services. Its JSON is
// the logs command's contract: {"lines": [...]}.
type Result struct {
	Records []Record `json:"lines"`
	// More says that more records match than this page holds: older ones
	// with Newest, newer ones without.
	More bool `json:"-"`
}

// ServiceInfo describes one service's timeline for a service list.
type ServiceInfo struct {
	Service string `json:"service"`
	// Lines counts the records kept, and Errors those at level error or
	// fatal (failed exits included); LastError is the newest of these.
	Lines     int64     `json:"lines"`
	Errors    int64     `json:"errors"`
	LastError time.Time `json:"last_error,omitzero"`
	Newest    time.Time `json:"newest,omitzero"`
	Container string    `json:"container,omitempty"` // of the newest line
	Bytes     int64     `json:"bytes"`               // on disk
}

// ErrNoStore is returned by OpenReader when no log store exists yet.
var ErrNoStore = errors.New("logstore: no logs kept yet")

// Reader reads a log store, even while another process writes it: it sees
// what the writer has flushed (at most FlushEvery old) and stops at a
// record still being written.
type Reader struct {
	dir string
}

// OpenReader returns a reader of the store in dir.
func OpenReader(dir string) (*Reader, error) {
	info, err := os.Stat(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w in %s", ErrNoStore, dir)
	}
	if err != nil {
		return nil, fmt.Errorf("logstore: %w", err)
	}
	if !info.IsDir() {
		return nil, fmt.Errorf("logstore: %s is not a directory", dir)
	}
	return &Reader{dir: dir}, nil
}

// timelines returns the names of the stored timelines, sorted.
func (r *Reader) timelines() ([]string, error) {
	ents, err := os.ReadDir(r.dir)
	if err != nil {
		return nil, fmt.Errorf("logstore: %w", err)
	}
	var names []string
	for _, e := range ents {
		if e.IsDir() && validName(e.Name()) {
			names = append(names, e.Name())
		}
	}
	return names, nil
}

// Services describes every service's timeline, sorted by name; the
// project's own timeline of markers is not one of them.
func (r *Reader) Services() ([]ServiceInfo, error) {
	names, err := r.timelines()
	if err != nil {
		return nil, err
	}
	var out []ServiceInfo
	for _, name := range names {
		if name == logstream.ProjectService {
			continue
		}
		info, ok, err := r.service(name)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, info)
		}
	}
	return out, nil
}

// service counts a timeline: the counters of its oldest segment's state
// give what was dropped, a read of its last segment what it holds now.
func (r *Reader) service(name string) (ServiceInfo, bool, error) {
	info := ServiceInfo{Service: name}
	segs, err := listSegments(filepath.Join(r.dir, name))
	if err != nil {
		return info, false, fmt.Errorf("logstore: %w", err)
	}
	var base *segState
	for _, s := range segs {
		info.Bytes += s.size
		if base == nil {
			if st, err := readState(s.path); err == nil {
				base = &st
			}
		}
	}
	if base == nil {
		return info, false, nil
	}
	for i := len(segs) - 1; i >= 0; i-- {
		st, end, ok := scanSegment(segs[i].path)
		if !ok {
			continue
		}
		info.Lines, info.Errors = end.lines-base.Lines, end.errs-base.Errors
		info.LastError, info.Newest, info.Container = end.lastError, end.newest, end.container
		if info.LastError.IsZero() || info.LastError.Before(st.LastError) {
			info.LastError = st.LastError
		}
		return info, true, nil
	}
	return info, false, nil
}

// readState reads the state record that opens a segment.
func readState(path string) (segState, error) {
	var st segState
	sr, err := openSegment(path)
	if err != nil {
		return st, err
	}
	defer sr.close()
	p, err := sr.next()
	if err != nil {
		return st, err
	}
	if p[0] != recState {
		return st, errTorn
	}
	return st, json.Unmarshal(p[1:], &st)
}

// segEnd is what a whole read of a segment finds.
type segEnd struct {
	lines, errs       int64
	lastError, newest time.Time
	container         string
}

func scanSegment(path string) (segState, segEnd, bool) {
	var st segState
	var end segEnd
	sr, err := openSegment(path)
	if err != nil {
		return st, end, false
	}
	defer sr.close()
	names := map[uint64]string{}
	for first := true; ; first = false {
		p, err := sr.next()
		if err != nil {
			return st, end, !first
		}
		if first {
			if p[0] != recState || json.Unmarshal(p[1:], &st) != nil {
				return st, end, false
			}
			end = segEnd{lines: st.Lines, errs: st.Errors, lastError: st.LastError}
			for _, c := range st.Containers {
				names[c.Idx] = c.Name
			}
			continue
		}
		switch p[0] {
		case recContainer:
			if idx, _, name, err := decodeContainer(p); err == nil {
				names[idx] = name
			}
		case recLine:
			l, err := decodeLine(p)
			if err != nil {
				return st, end, true
			}
			end.lines++
			t := time.Unix(0, l.ts)
			if l.level >= LevelError {
				end.errs++
				if t.After(end.lastError) {
					end.lastError = t
				}
			}
			if !t.Before(end.newest) {
				end.newest = t
				if l.flags&flagInlineName != 0 {
					end.container = string(l.name)
				} else {
					end.container = names[l.idx]
				}
			}
		}
	}
}

// Query returns the page of records q selects, in time order. Records is
// never nil, so that the JSON of an empty result is {"lines":[]}.
func (r *Reader) Query(q Query) (Result, error) {
	res := Result{Records: []Record{}}
	if !q.Newest {
		skip := q.Offset
		err := r.Scan(q, func(rec Record) error {
			if skip > 0 {
				skip--
				return nil
			}
			if q.Limit > 0 && len(res.Records) == q.Limit {
				res.More = true
				return errStop
			}
			res.Records = append(res.Records, rec)
			return nil
		})
		return res, err
	}
	if q.Limit > 0 {
		// The newest page of a long history: look back over a widening
		// window first, so that the common case (the last lines of
		// services that are writing) reads the newest segments only and
		// not the whole cap. A window that holds more matches than the
		// page holds the page; otherwise the next one is tried, and the
		// last is the whole range.
		end := q.Until
		if end.IsZero() {
			end = time.Now()
		}
		for _, w := range [...]time.Duration{10 * time.Minute, 2 * time.Hour, 24 * time.Hour, 7 * 24 * time.Hour} {
			since := end.Add(-w)
			if !since.After(q.Since) {
				break
			}
			wq := q
			wq.Since = since
			res, n, whole, err := r.newest(wq)
			if err != nil || n > q.Offset+q.Limit || whole {
				return res, err
			}
		}
	}
	res, _, _, err := r.newest(q)
	return res, err
}

// newest runs a Newest query over the whole of its range and returns how
// many records matched, and whether its Since left nothing out.
func (r *Reader) newest(q Query) (res Result, n int, whole bool, err error) {
	res = Result{Records: []Record{}}
	m, err := compile(q)
	if err != nil {
		return res, 0, false, err
	}
	// The last Offset+Limit matches, in a ring.
	keep := q.Offset + q.Limit
	var ring []Record
	err = r.scan(m, func(rec Record) error {
		if q.Limit <= 0 {
			ring = append(ring, rec)
			return nil
		}
		if len(ring) < keep {
			ring = append(ring, rec)
		} else {
			ring[n%keep] = rec
		}
		n++
		return nil
	})
	if err != nil {
		return res, n, false, err
	}
	if q.Limit > 0 && n > keep {
		res.More = true
		start := n % keep
		ring = append(ring[start:], ring[:start]...)
	}
	res.Records = append(res.Records, ring[:max(0, len(ring)-q.Offset)]...)
	return res, n, m.older == 0, nil
}

var errStop = errors.New("stop")

// Scan calls fn with every record q selects, in time order across
// services, ignoring Offset and Limit; it stops at fn's first error and
// returns it. Within a service, records are put back in time order over a
// window of reorderWindow records: what one container's stdout and stderr,
// or two of a service's containers, wrote at nearly the same time.
func (r *Reader) Scan(q Query, fn func(Record) error) error {
	m, err := compile(q)
	if err != nil {
		return err
	}
	return r.scan(m, fn)
}

// scan is Scan with a compiled query, which counts what its Since left out.
func (r *Reader) scan(m *matcher, fn func(Record) error) error {
	q := m.q
	names, err := r.timelines()
	if err != nil {
		return err
	}
	if len(q.Services) > 0 {
		want := map[string]bool{logstream.ProjectService: true}
		for _, s := range q.Services {
			want[safeName(s)] = true
		}
		names = slices.DeleteFunc(names, func(n string) bool { return !want[n] })
	}
	var its mergeHeap
	var all []*tlIter
	defer func() {
		for _, it := range all {
			it.close()
		}
	}()
	for _, name := range names {
		it := &tlIter{name: name, m: m}
		if err := it.open(filepath.Join(r.dir, name)); err != nil {
			return err
		}
		all = append(all, it)
		rec, ok, err := it.next()
		if err != nil {
			return err
		}
		if ok {
			its = append(its, &mergeItem{it: it, rec: rec})
		}
	}
	heap.Init(&its)
	for its.Len() > 0 {
		top := its[0]
		if err := fn(top.rec.Record); err != nil {
			if errors.Is(err, errStop) {
				return nil
			}
			return err
		}
		rec, ok, err := top.it.next()
		if err != nil {
			return err
		}
		if ok {
			top.rec = rec
			heap.Fix(&its, 0)
		} else {
			heap.Pop(&its)
		}
	}
	return nil
}

// matcher is a compiled Query.
type matcher struct {
	q      Query
	grep   *regexp.Regexp
	text   *regexp.Regexp
	levels [LevelFatal + 1]bool
	anyLvl bool
	// older counts the records and segments left out for being older than
	// Since: none means the query saw the whole history.
	older int
}

func compile(q Query) (*matcher, error) {
	m := &matcher{q: q, anyLvl: len(q.Levels) == 0}
	for _, l := range q.Levels {
		if int(l) < len(m.levels) {
			m.levels[l] = true
		}
	}
	var err error
	if q.Grep != "" {
		if m.grep, err = regexp.Compile(q.Grep); err != nil {
			return nil, fmt.Errorf("logstore: search: %w", err)
		}
	}
	if q.Text != "" {
		m.text = regexp.MustCompile("(?i)" + regexp.QuoteMeta(q.Text))
	}
	return m, nil
}

func (m *matcher) match(t time.Time, level Level, text []byte) bool {
	if !m.q.Since.IsZero() && t.Before(m.q.Since) {
		m.older++
		return false
	}
	if !m.q.Until.IsZero() && !t.Before(m.q.Until) {
		return false
	}
	if !m.anyLvl && !m.levels[level] {
		return false
	}
	if m.grep == nil && m.text == nil {
		return true
	}
	if bytes.IndexByte(text, 0x1b) >= 0 {
		text = stripANSI(make([]byte, 0, len(text)), text)
	}
	return (m.grep == nil || m.grep.Match(text)) && (m.text == nil || m.text.Match(text))
}

// reorderWindow is how many records of one timeline are held to put them
// in time order.
const reorderWindow = 1024

// tlIter reads one timeline's matching records in (windowed) time order.
// It opens every segment it will read at once: a segment the writer's cap
// removes meanwhile stays readable, so the records read have no hole.
type tlIter struct {
	name  string
	m     *matcher
	files []*os.File
	sr    *segReader
	names map[uint64]string
	pend  recHeap
	order uint64
	eof   bool
}

func (it *tlIter) open(dir string) error {
	segs, err := listSegments(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("logstore: %w", err)
	}
	// Skip the segments wholly older than Since: a segment's state says
	// how new everything before it is.
	if since := it.m.q.Since; !since.IsZero() {
		for i := len(segs) - 1; i > 0; i-- {
			st, err := readState(segs[i].path)
			if err == nil && !st.Before.IsZero() && st.Before.Before(since) {
				it.m.older += i
				segs = segs[i:]
				break
			}
		}
	}
	for _, seg := range segs {
		f, err := os.Open(seg.path)
		if errors.Is(err, os.ErrNotExist) {
			continue // removed by the cap since the listing
		}
		if err != nil {
			it.close()
			return fmt.Errorf("logstore: %w", err)
		}
		it.files = append(it.files, f)
	}
	return nil
}

// close closes the files the iterator has not read yet.
func (it *tlIter) close() {
	if it.sr != nil {
		it.sr.close()
		it.sr = nil
	}
	for _, f := range it.files {
		f.Close()
	}
	it.files = nil
}

// next returns the timeline's next record in time order.
func (it *tlIter) next() (orderedRecord, bool, error) {
	for !it.eof && it.pend.Len() < reorderWindow {
		rec, ok, err := it.read()
		if err != nil {
			return orderedRecord{}, false, err
		}
		if !ok {
			it.eof = true
			break
		}
		heap.Push(&it.pend, rec)
	}
	if it.pend.Len() == 0 {
		return orderedRecord{}, false, nil
	}
	return heap.Pop(&it.pend).(orderedRecord), true, nil
}

// read returns the next matching record in file order.
func (it *tlIter) read() (orderedRecord, bool, error) {
	for {
		if it.sr == nil {
			if len(it.files) == 0 {
				return orderedRecord{}, false, nil
			}
			f := it.files[0]
			it.files = it.files[1:]
			sr, err := newSegReader(f)
			if errors.Is(err, errTorn) {
				continue // just being created
			}
			if err != nil {
				return orderedRecord{}, false, fmt.Errorf("logstore: %w", err)
			}
			it.sr = sr
			it.names = map[uint64]string{}
		}
		p, err := it.sr.next()
		if err != nil {
			it.sr.close()
			it.sr = nil
			if errors.Is(err, io.EOF) || errors.Is(err, errTorn) {
				continue
			}
			return orderedRecord{}, false, fmt.Errorf("logstore: %w", err)
		}
		switch p[0] {
		case recState:
			var st segState
			if json.Unmarshal(p[1:], &st) == nil {
				for _, c := range st.Containers {
					it.names[c.Idx] = c.Name
				}
			}
		case recContainer:
			if idx, _, name, err := decodeContainer(p); err == nil {
				it.names[idx] = name
			}
		case recLine:
			l, err := decodeLine(p)
			if err != nil {
				continue
			}
			t := time.Unix(0, l.ts).UTC()
			if !it.m.match(t, l.level, l.text) {
				continue
			}
			rec := Record{Service: it.name, Time: t, Stream: l.stream.String(), Text: string(l.text),
				Marker: string(l.marker), Level: l.level, Truncated: l.flags&flagTruncated != 0}
			if l.flags&flagInlineName != 0 {
				rec.Container = string(l.name)
			} else {
				rec.Container = it.names[l.idx]
			}
			it.order++
			return orderedRecord{Record: rec, order: it.order}, true, nil
		}
	}
}

// orderedRecord is a record with its place in its timeline's file, which
// breaks ties of time.
type orderedRecord struct {
	Record
	order uint64
}

type recHeap []orderedRecord

func (h recHeap) Len() int { return len(h) }
func (h recHeap) Less(i, j int) bool {
	if c := h[i].Time.Compare(h[j].Time); c != 0 {
		return c < 0
	}
	return h[i].order < h[j].order
}
func (h recHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *recHeap) Push(x any)   { *h = append(*h, x.(orderedRecord)) }
func (h *recHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// mergeItem is a timeline's next record in the merge across timelines.
type mergeItem struct {
	it  *tlIter
	rec orderedRecord
}

type mergeHeap []*mergeItem

func (h mergeHeap) Len() int { return len(h) }
func (h mergeHeap) Less(i, j int) bool {
	if c := h[i].rec.Time.Compare(h[j].rec.Time); c != 0 {
		return c < 0
	}
	if c := strings.Compare(h[i].it.name, h[j].it.name); c != 0 {
		return c < 0
	}
	return cmp.Less(h[i].rec.order, h[j].rec.order)
}
func (h mergeHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *mergeHeap) Push(x any)   { *h = append(*h, x.(*mergeItem)) }
func (h *mergeHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
