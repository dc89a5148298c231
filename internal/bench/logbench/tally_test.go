package main

import (
	"strings"
	"testing"
	"time"

	"github.com/carto-setup/carto-setup/internal/bench/logline"
)

func data(seq uint64, run int64, o logline.Options) string {
	return strings.TrimSuffix(string(logline.AppendData(nil, seq, time.Now().UnixNano(), run, logline.Payload(seq, o))), "\n")
}

func TestTally(t *testing.T) {
	e := expect{opts: logline.Options{Size: 120, UTF8: true}, stderrEvery: 3}
	tl := newTally(e)
	gate := time.Now()
	tl.add(stdout, "READY 7", gate)
	for _, seq := range []uint64{1, 2, 0, 4, 4, 6, 5} { // 3 is missing; 4 twice; 0 on the wrong stream
		tl.add(stdout, data(seq, 7, e.opts), time.Now())
	}
	tl.add(stdout, "7 1 7 not the payload", time.Now())
	tl.add(stdout, "something else", time.Now())
	tl.add(stdout, "END 7 7", time.Now())
	r := tl.result("x", produced(tl), gate)
	want := result{Delivered: 8, Missing: 1, Duplicate: 1, Reordered: 2, Corrupt: 1, Foreign: 1, WrongStrm: 2, Complete: true}
	got := result{Delivered: r.Delivered, Missing: r.Missing, Duplicate: r.Duplicate, Reordered: r.Reordered, Corrupt: r.Corrupt,
		Foreign: r.Foreign, WrongStrm: r.WrongStrm, Complete: r.Complete}
	if got != want {
		t.Errorf("result = %+v\nwant %+v", got, want)
	}
}

func TestCoverage(t *testing.T) {
	var c coverage
	c.add(1, 3)
	c.add(4, 10) // a gap
	c.add(12, 12)
	c.add(12, 12)
	last, holes, overlaps := c.check()
	if last != 12 || holes != 1 || overlaps != 1 {
		t.Errorf("check = %d %d %d, want 12 1 1", last, holes, overlaps)
	}
}

func TestStripDockerTS(t *testing.T) {
	ts := "2026-11-22T07:40:18.123456789Z "
	long := strings.Repeat("a", splitChunk)
	for in, want := range map[string]string{
		ts + "hello":                     "hello",
		"hello":                          "hello",
		ts + long + ts + "tail":          long + "tail",
		ts + long + ts + long + ts + "x": long + long + "x",
	} {
		if got := stripDockerTS(in); got != want {
			t.Errorf("stripDockerTS(%.50q...) = %.50q..., %d bytes; want %d", in, got, len(got), len(want))
		}
	}
}
