package logstore

import (
	"fmt"
	"testing"

	"github.com/carto-setup/carto-setup/internal/logstream"
	"github.com/google/go-cmp/cmp"
)

// TestFilterAgreesWithQuery appends a mix of services, levels, markers,
// ANSI and cases to a store, then for each of a set of queries compares
// what the store returns with the lines the Filter of that query keeps:
// the live tail and the history of a view must agree line for line.
func TestFilterAgreesWithQuery(t *testing.T) {
	t.Parallel()
	s := openStore(t, Config{})
	texts := []string{
		"api starting", `{"level":"error","msg":"connect ECONNREFUSED"}`, "\x1b[33mWARN\x1b[0m slow Query",
		"INFO ready on :8080", "level=debug msg=tick", "plain error in the middle", "FATAL out of memory",
	}
	var lines []logstream.Line
	for i := range 70 {
		svc := []string{"api", "db", "router"}[i%3]
		l := line(svc, i, logstream.Stream(1+i%2), fmt.Sprintf("%s #%d", texts[i%len(texts)], i))
		if i%17 == 0 {
			l = logstream.Line{Container: logstream.ProjectService, Service: logstream.ProjectService, Stream: logstream.Marker,
				Marker: logstream.MarkInstall, TS: at(i), Text: fmt.Sprintf("install started #%d", i)}
		}
		if i%23 == 0 {
			l.Stream, l.Marker, l.Text = logstream.Marker, logstream.MarkFailed, fmt.Sprintf("%s exited with code 1 #%d", l.Container, i)
		}
		lines = append(lines, l)
		s.Append("id-"+l.Container, l, nil)
	}
	queries := []Query{
		{},
		{Services: []string{"api"}},
		{Services: []string{"db", "router"}, Text: "query"},
		{Grep: `#[0-9]*5$`},
		{Grep: `(?i)error|fatal`},
		{Levels: []Level{LevelError, LevelFatal}},
		{Levels: []Level{LevelWarn}, Services: []string{"api", "router"}},
		{Since: at(10), Until: at(40)},
		{Text: "STARTED"},
	}
	for _, q := range queries {
		res, err := s.Query(q)
		if err != nil {
			t.Fatal(err)
		}
		f, err := NewFilter(q)
		if err != nil {
			t.Fatal(err)
		}
		var want, got []string
		for _, r := range res.Records {
			want = append(want, r.Text)
		}
		for _, l := range lines {
			if f.Match(l) {
				got = append(got, l.Text)
			}
		}
		if len(want) == 0 {
			t.Errorf("query %+v matches nothing: a weak case", q)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("query %+v: store (-) and filter (+) disagree:\n%s", q, diff)
		}
	}
	if _, err := NewFilter(Query{Grep: "("}); err == nil {
		t.Error("a bad regular expression compiled")
	}
}
