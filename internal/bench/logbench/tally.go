package main

import (
	"regexp"
	"sync"
	"time"

	"github.com/carto-setup/carto-setup/internal/bench/logline"
	"github.com/carto-setup/carto-setup/internal/bench/measure"
)

// The streams as consumers see them.
const (
	stdout = 1
	stderr = 2
)

// expect is what a phase's generator writes, for checking every line.
type expect struct {
	opts        logline.Options
	stderrEvery uint64
	tty         bool // everything arrives on stdout
}

// stream returns the stream data line seq is written to.
func (e expect) stream(seq uint64) int {
	if !e.tty && e.stderrEvery > 0 && seq%e.stderrEvery == 0 {
		return stderr
	}
	return stdout
}

// tally counts what one consumer received. It is safe for concurrent use
// (docker logs -f is read from two pipes).
type tally struct {
	exp expect

	mu       sync.Mutex
	runs     map[int64]*runTally
	readyAt  map[int64]time.Time // when each run's READY line arrived
	firstAt  map[int64]time.Time // when each run's first line of any kind arrived
	ends     map[int64]uint64    // END lines: run -> data lines written
	lat      []time.Duration
	first    time.Time // first and last data line received
	last     time.Time
	lines    int64
	bytes    int64
	corrupt  int64 // payload differs from what was written
	foreign  int64 // not a generator line at all
	wrong    int64 // on the wrong stream
	gapLines uint64

	ready chan struct{} // closed at the first READY line
	event chan struct{} // signalled at every READY and END line
}

// runTally counts one run of the generator.
type runTally struct {
	count     []uint8 // times each seq arrived, saturating
	maxSeq    [3]int64
	reordered int64
}

func newTally(e expect) *tally {
	return &tally{
		exp: e, runs: map[int64]*runTally{}, readyAt: map[int64]time.Time{}, firstAt: map[int64]time.Time{}, ends: map[int64]uint64{},
		ready: make(chan struct{}), event: make(chan struct{}, 1),
	}
}

// add records a line received at recv on stream.
func (t *tally) add(stream int, text string, recv time.Time) {
	l, ok := logline.Parse(text)
	t.mu.Lock()
	defer t.mu.Unlock()
	if !ok {
		t.foreign++
		return
	}
	if _, seen := t.firstAt[l.Run]; !seen {
		t.firstAt[l.Run] = recv
	}
	switch l.Kind {
	case logline.Ready:
		if _, seen := t.readyAt[l.Run]; !seen {
			t.readyAt[l.Run] = recv
		}
		if len(t.readyAt) == 1 {
			select {
			case <-t.ready:
			default:
				close(t.ready)
			}
		}
		t.signal()
		return
	case logline.End:
		t.ends[l.Run] = l.Count
		t.signal()
		return
	}
	r := t.runs[l.Run]
	if r == nil {
		r = &runTally{maxSeq: [3]int64{-1, -1, -1}}
		t.runs[l.Run] = r
	}
	for uint64(len(r.count)) <= l.Seq {
		r.count = append(r.count, make([]uint8, max(1024, len(r.count)))...)
	}
	if r.count[l.Seq] < 255 {
		r.count[l.Seq]++
	}
	if stream != t.exp.stream(l.Seq) {
		t.wrong++
	}
	s := stream % 3
	if int64(l.Seq) < r.maxSeq[s] {
		r.reordered++
	}
	r.maxSeq[s] = max(r.maxSeq[s], int64(l.Seq))
	if l.Payload != logline.Payload(l.Seq, t.exp.opts) {
		t.corrupt++
	}
	t.lat = append(t.lat, recv.Sub(time.Unix(0, l.EmitNS)))
	if t.first.IsZero() {
		t.first = recv
	}
	t.last = recv
	t.lines++
	t.bytes += int64(len(text))
}

func (t *tally) signal() {
	select {
	case t.event <- struct{}{}:
	default:
	}
}

// addGap records lines reported as skipped (websocket clients only).
func (t *tally) addGap(n uint64) {
	t.mu.Lock()
	t.gapLines += n
	t.mu.Unlock()
}

// endsSeen returns how many runs have ended.
func (t *tally) endsSeen() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.ends)
}

// result is a consumer's outcome.
type result struct {
	Name       string            `json:"name"`
	Delivered  int64             `json:"delivered"`
	Missing    int64             `json:"missing"`
	Duplicate  int64             `json:"duplicate"`
	Reordered  int64             `json:"reordered"`
	Corrupt    int64             `json:"corrupt"`
	Foreign    int64             `json:"foreign"`
	WrongStrm  int64             `json:"wrong_stream"`
	GapLines   uint64            `json:"gap_lines"`
	Latency    measure.Latencies `json:"latency_ns"`
	Drain      time.Duration     `json:"drain_ns"` // gate to last data line
	LinesPerS  float64           `json:"lines_per_s"`
	Complete   bool              `json:"complete"` // saw every run's END line
	RestartGap time.Duration     `json:"restart_first_line_ns,omitempty"`
}

// produced merges the END lines seen by every consumer: run -> lines.
func produced(ts ...*tally) map[int64]uint64 {
	out := map[int64]uint64{}
	for _, t := range ts {
		t.mu.Lock()
		for run, n := range t.ends {
			out[run] = max(out[run], n)
		}
		t.mu.Unlock()
	}
	return out
}

// result summarises the tally against what was produced, timing from gate.
func (t *tally) result(name string, runs map[int64]uint64, gate time.Time) result {
	t.mu.Lock()
	defer t.mu.Unlock()
	r := result{Name: name, Delivered: t.lines, Corrupt: t.corrupt, Foreign: t.foreign, WrongStrm: t.wrong, GapLines: t.gapLines}
	r.Complete = len(t.ends) >= len(runs)
	for run, n := range runs {
		rt := t.runs[run]
		if rt != nil {
			r.Reordered += rt.reordered
		}
		for seq := range n {
			c := uint8(0)
			if rt != nil && seq < uint64(len(rt.count)) {
				c = rt.count[seq]
			}
			switch {
			case c == 0:
				r.Missing++
			case c > 1:
				r.Duplicate += int64(c - 1)
			}
		}
	}
	r.Latency = measure.Summarize(t.lat)
	if !t.last.IsZero() {
		r.Drain = t.last.Sub(gate)
		if s := t.last.Sub(gate).Seconds(); s > 0 {
			r.LinesPerS = float64(t.lines) / s
		}
	}
	// For a restarted generator: how long after the last run started
	// (its run ID is its start time) its first line arrived.
	var latest int64
	for run := range t.firstAt {
		latest = max(latest, run)
	}
	if len(t.firstAt) > 1 {
		r.RestartGap = t.firstAt[latest].Sub(time.Unix(0, latest))
	}
	return r
}

// coverage checks a websocket client's hub sequence numbers: every seq up
// to the newest must have been delivered or reported in a gap, once.
type coverage struct {
	mu   sync.Mutex
	seen []uint8
}

func (c *coverage) add(from, to uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for uint64(len(c.seen)) <= to {
		c.seen = append(c.seen, make([]uint8, max(1024, len(c.seen)))...)
	}
	for s := from; s <= to; s++ {
		if c.seen[s] < 255 {
			c.seen[s]++
		}
	}
}

// check returns the newest seq seen and how many seqs up to it were never
// accounted for (holes) or accounted for twice (overlaps).
func (c *coverage) check() (last, holes, overlaps uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for s := len(c.seen) - 1; s > 0; s-- {
		if c.seen[s] > 0 {
			last = uint64(s)
			break
		}
	}
	for s := uint64(1); s <= last; s++ {
		switch {
		case c.seen[s] == 0:
			holes++
		case c.seen[s] > 1:
			overlaps += uint64(c.seen[s] - 1)
		}
	}
	return last, holes, overlaps
}

// inlineTS matches the timestamps docker logs --timestamps prints in the
// middle of a line the daemon split at 16 KiB: every partial chunk gets its
// own prefix and only the last one ends the line.
var inlineTS = regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z `)

// splitChunk is the daemon's partial-message size (moby daemon/logger/copier.go).
const splitChunk = 16 << 10

// stripDockerTS removes the timestamp docker logs --timestamps puts before
// a line, and those of the continuation chunks of a split line.
func stripDockerTS(line string) string {
	if loc := inlineTS.FindStringIndex(line[:min(len(line), 40)]); loc != nil && loc[0] == 0 {
		line = line[loc[1]:]
	}
	if len(line) > splitChunk {
		line = inlineTS.ReplaceAllString(line, "")
	}
	return line
}
