package logstore

import (
	"github.com/carto-setup/carto-setup/internal/logstream"
)

// Filter is a Query's conditions for lines that do not come from the
// store: the live tail of a view whose history a Query read, matched by
// the same rules, so that the two agree line for line. Offset, Limit and
// Newest do not apply to single lines.
type Filter struct {
	m        *matcher
	services map[string]bool // nil: all
}

// NewFilter compiles the conditions of q; it fails where Query would (a
// bad regular expression).
func NewFilter(q Query) (*Filter, error) {
	m, err := compile(q)
	if err != nil {
		return nil, err
	}
	f := &Filter{m: m}
	if len(q.Services) > 0 {
		f.services = map[string]bool{logstream.ProjectService: true}
		for _, s := range q.Services {
			f.services[safeName(s)] = true
		}
	}
	return f, nil
}

// Match reports whether the store would return l for the query: its
// service (project markers belong to every one), time, level (detected as
// the store detects it) and text.
func (f *Filter) Match(l logstream.Line) bool {
	if f.services != nil && !f.services[timelineName(l)] {
		return false
	}
	level := markerLevel(l.Marker)
	if l.Stream != logstream.Marker && !f.m.anyLvl {
		level = DetectLevel([]byte(l.Text))
	}
	return f.m.match(l.TS, level, []byte(l.Text))
}
