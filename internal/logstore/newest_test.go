package logstore

import (
	"fmt"
	"testing"
	"time"

	"github.com/carto-setup/carto-setup/internal/logstream"
	"github.com/google/go-cmp/cmp"
)

// TestNewestPage compares the newest page of a history spread over
// weeks, which Query looks for in widening windows, with the tail of the
// whole history read oldest first: the same records and the same More,
// for every page size, with and without filters and bounds.
func TestNewestPage(t *testing.T) {
	t.Parallel()
	s := openStore(t, Config{MaxBytes: 4 << 20, SegmentBytes: 64 << 10})
	now := time.Now()
	ages := []time.Duration{30 * 24 * time.Hour, 8 * 24 * time.Hour, 3 * 24 * time.Hour, 20 * time.Hour, 3 * time.Hour, 90 * time.Minute, 9 * time.Minute, time.Minute}
	n := 0
	for _, age := range ages {
		for i := range 300 {
			svc := []string{"api", "db"}[i%2]
			s.Append("id-"+svc, logstream.Line{Container: "p-" + svc + "-1", Service: svc, Stream: logstream.Stdout,
				TS: now.Add(-age).Add(time.Duration(i) * time.Millisecond), Text: fmt.Sprintf("line %d age %s", n, age)}, nil)
			n++
		}
	}
	for _, q := range []Query{
		{Limit: 1}, {Limit: 299}, {Limit: 300}, {Limit: 301}, {Limit: 700}, {Limit: 2000}, {Limit: 5000},
		{Limit: 100, Offset: 250}, {Limit: 50, Services: []string{"db"}}, {Limit: 400, Text: "age 3h0m0s"},
		{Limit: 200, Until: now.Add(-2 * time.Hour)}, {Limit: 200, Since: now.Add(-4 * 24 * time.Hour), Until: now.Add(-21 * time.Hour)},
	} {
		all := q
		all.Limit, all.Offset, all.Newest = 0, 0, false
		full, err := s.Query(all)
		if err != nil {
			t.Fatal(err)
		}
		end := max(0, len(full.Records)-q.Offset)
		want := full.Records[max(0, end-q.Limit):end]
		q.Newest = true
		got, err := s.Query(q)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(texts(want), texts(got.Records)); diff != "" {
			t.Errorf("%+v (-want +got):\n%s", q, diff)
		}
		if wantMore := end > q.Limit; got.More != wantMore {
			t.Errorf("%+v: More %v, want %v", q, got.More, wantMore)
		}
	}
}

// BenchmarkNewestPage reads the Logs page's default view (the newest 1,000
// lines) of a full timeline (the default 64 MiB cap, a line every 6 ms
// over the last hour) as Query does, in widening windows, and as one read
// of the whole timeline does, in the same run: the "whole/windowed"
// metric is how many times faster the window makes it.
func BenchmarkNewestPage(b *testing.B) {
	s, err := Open(Config{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	start := time.Now().Add(-time.Hour)
	for n := 0; n < 600_000; n++ {
		s.Append("a1", logstream.Line{Container: "p-api-1", Service: "api", Stream: logstream.Stdout, TS: start.Add(time.Duration(n) * 6 * time.Millisecond),
			Text: fmt.Sprintf("time=2026-12-07T22:01:02Z level=INFO msg=heartbeat service=api beat=%d uptime=%ds requests=%d", n, n/1000, n*3)}, nil)
	}
	s.Flush()
	q := Query{Newest: true, Limit: 1000}
	var windowed, whole time.Duration
	for b.Loop() {
		t0 := time.Now()
		res, err := s.reader.Query(q)
		t1 := time.Now()
		all, _, _, err2 := s.reader.newest(q)
		whole += time.Since(t1)
		windowed += t1.Sub(t0)
		if err != nil || err2 != nil || len(res.Records) != 1000 || res.Records[999] != all.Records[999] {
			b.Fatalf("windowed and whole reads differ: %v %v", err, err2)
		}
	}
	b.ReportMetric(float64(windowed.Milliseconds())/float64(b.N), "windowed-ms/op")
	b.ReportMetric(float64(whole.Milliseconds())/float64(b.N), "whole-ms/op")
	b.ReportMetric(float64(whole)/float64(windowed), "whole/windowed")
}
