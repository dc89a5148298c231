package logstream

import "time"

// StreamPos is how far one stream of a container has been delivered: the
// daemon timestamp of the newest line, and how many lines carried exactly
// that timestamp.
type StreamPos struct {
	TS time.Time
	N  int
}

// Position is how far a container's log has been delivered, per stream
// (indexed by Stream), so that a stream re-opened after a restart, a broken
// connection or a restart of the wizard neither repeats nor loses a line.
//
// The daemon's since is inclusive and its timestamps are ordered only
// within a stream (stdout and stderr are copied by separate goroutines), so
// a stream is re-opened at the oldest of the per-stream timestamps, and
// each stream then skips what is older than its own timestamp and the first
// N lines at exactly that timestamp: the daemon replays a stream's lines in
// the order it stored them, so a count is exact.
type Position [4]StreamPos

// Advance records that a line of stream s with daemon timestamp ts was
// delivered. A line without a timestamp (a daemon error) is not counted:
// it is never skipped on replay.
func (p *Position) Advance(s Stream, ts time.Time) {
	if ts.IsZero() || int(s) >= len(p) {
		return
	}
	sp := &p[s]
	switch {
	case ts.After(sp.TS):
		sp.TS, sp.N = ts, 1
	case ts.Equal(sp.TS):
		sp.N++
	}
}

// Since returns the timestamp to re-open the stream at: the oldest of the
// streams' timestamps; zero (everything) when nothing was delivered.
func (p *Position) Since() time.Time {
	var since time.Time
	for _, sp := range p {
		if sp.TS.IsZero() {
			continue
		}
		if since.IsZero() || sp.TS.Before(since) {
			since = sp.TS
		}
	}
	return since
}

// IsZero reports whether nothing was delivered.
func (p *Position) IsZero() bool { return p.Since().IsZero() }

// replay skips, on a re-opened stream, the lines a Position says were
// delivered already.
type replay struct {
	active bool
	pos    [4]StreamPos // what remains to skip at each stream's TS
	done   [4]bool      // the stream passed its TS: nothing more to skip
}

func newReplay(p Position) replay { return replay{pos: p, active: !p.IsZero()} }

// skip reports whether a line of a re-opened stream was delivered before:
// older than its stream's timestamp, or one of the first N lines at that
// timestamp. A line without a timestamp is never skipped.
func (r *replay) skip(s Stream, ts time.Time) bool {
	if !r.active || ts.IsZero() || int(s) >= len(r.pos) || r.done[s] {
		return false
	}
	sp := &r.pos[s]
	switch {
	case ts.Before(sp.TS):
		return true
	case ts.Equal(sp.TS) && sp.N > 0:
		sp.N--
		return true
	}
	// The first new line: from here on the stream is past what was
	// delivered (the daemon replays a stream in order).
	r.done[s] = true
	return false
}
