package images

import (
	"testing"
	"time"

	"github.com/carto-setup/carto-setup/internal/engine"
)

// TestTracker replays a pull as the daemon reports it (two layers, one of
// them already present) on a fake clock.
func TestTracker(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	ev := func(layer, status string, cur, total int64) engine.PullEvent {
		return engine.PullEvent{Image: "r/i:1", Layer: layer, Status: status, Current: cur, Total: total}
	}
	tr := newTracker("r/i:1", nil, t0)
	tr.p.Status = Pulling
	steps := []struct {
		at   float64
		ev   engine.PullEvent
		want Progress
	}{
		{0, engine.PullEvent{Image: "r/i:1", Status: "Pulling from r/i"}, Progress{LayersTotal: 0, SecondsLeft: -1}},
		{0, ev("aaaaaaaaaaaa", "Pulling fs layer", 0, 0), Progress{LayersTotal: 1, SecondsLeft: -1}},
		{0, ev("bbbbbbbbbbbb", "Already exists", 0, 0), Progress{LayersTotal: 2, LayersDone: 1, SecondsLeft: -1}},
		{0, ev("cccccccccccc", "Pulling fs layer", 0, 0), Progress{LayersTotal: 3, LayersDone: 1, SecondsLeft: -1}},
		{1, ev("aaaaaaaaaaaa", "Downloading", 1000, 4000), Progress{LayersTotal: 3, LayersDone: 1, BytesDone: 1000, BytesTotal: 4000, Rate: 1000, SecondsLeft: -1}},
		{2, ev("cccccccccccc", "Downloading", 1000, 2000), Progress{LayersTotal: 3, LayersDone: 1, BytesDone: 2000, BytesTotal: 6000, SizeKnown: true, Rate: 1000, SecondsLeft: 4}},
		{3, ev("cccccccccccc", "Download complete", 0, 0), Progress{LayersTotal: 3, LayersDone: 1, BytesDone: 3000, BytesTotal: 6000, SizeKnown: true, Rate: 1000, SecondsLeft: 3}},
		{3, ev("cccccccccccc", "Retrying in 5 seconds", 0, 0), Progress{LayersTotal: 3, LayersDone: 1, BytesDone: 3000, BytesTotal: 6000, SizeKnown: true, Rate: 1000, SecondsLeft: 3, Note: "retrying in 5 seconds"}},
		{4, ev("aaaaaaaaaaaa", "Downloading", 4000, 4000), Progress{LayersTotal: 3, LayersDone: 1, BytesDone: 6000, BytesTotal: 6000, SizeKnown: true, Rate: 1500, SecondsLeft: 0}},
		{4, ev("aaaaaaaaaaaa", "Extracting", 100, 9000), Progress{LayersTotal: 3, LayersDone: 1, BytesDone: 6000, BytesTotal: 6000, SizeKnown: true, Rate: 1500, SecondsLeft: 0, Note: "extracting"}},
		{5, ev("aaaaaaaaaaaa", "Pull complete", 0, 0), Progress{LayersTotal: 3, LayersDone: 2, BytesDone: 6000, BytesTotal: 6000, SizeKnown: true, Rate: 1200, SecondsLeft: 0}},
		{5, ev("cccccccccccc", "Pull complete", 0, 0), Progress{LayersTotal: 3, LayersDone: 3, BytesDone: 6000, BytesTotal: 6000, SizeKnown: true, Rate: 1200, SecondsLeft: 0}},
	}
	for i, s := range steps {
		tr.observe(s.ev, at(s.at))
		got := tr.p
		s.want.Image, s.want.Status = "r/i:1", Pulling
		if got != s.want {
			t.Fatalf("step %d (%s %s):\ngot  %+v\nwant %+v", i, s.ev.Layer, s.ev.Status, got, s.want)
		}
	}
}

func TestTrackerSeeded(t *testing.T) {
	t0 := time.Unix(1000, 0)
	tr := newTracker("r/i:1", map[string]int64{"aaaaaaaaaaaa": 3000, "cccccccccccc": 1000}, t0)
	tr.p.Status = Pulling
	tr.observe(engine.PullEvent{Layer: "aaaaaaaaaaaa", Status: "Pulling fs layer"}, t0)
	tr.observe(engine.PullEvent{Layer: "cccccccccccc", Status: "Waiting"}, t0)
	tr.observe(engine.PullEvent{Layer: "aaaaaaaaaaaa", Status: "Downloading", Current: 1000, Total: 3000}, t0.Add(time.Second))
	if p := tr.p; p.LayersTotal != 2 || p.BytesTotal != 4000 || !p.SizeKnown || p.BytesDone != 1000 || p.SecondsLeft != 3 {
		t.Fatalf("seeded progress %+v, want 2 layers, 1000 of 4000 bytes, 3 s left", p)
	}
	// With nothing arriving the rate decays, and the time left grows.
	p := tr.snapshot(t0.Add(4 * time.Second))
	if p.Rate != 250 || p.SecondsLeft != 12 {
		t.Errorf("after 3 quiet seconds: rate %d, %d s left; want 250, 12", p.Rate, p.SecondsLeft)
	}
}

func TestOverall(t *testing.T) {
	o := Overall([]Progress{
		{Status: Present, SizeKnown: true},
		{Status: Done, LayersDone: 2, LayersTotal: 2, BytesDone: 100, BytesTotal: 100, SizeKnown: true},
		{Status: Pulling, LayersDone: 1, LayersTotal: 3, BytesDone: 200, BytesTotal: 1200, SizeKnown: true, Rate: 100},
	})
	if o.Status != Pulling || o.LayersDone != 3 || o.LayersTotal != 5 || o.BytesDone != 300 || o.BytesTotal != 1300 || o.SecondsLeft != 10 {
		t.Errorf("Overall = %+v", o)
	}
	if o := Overall([]Progress{{Status: Done}, {Status: Failed}}); o.Status != Failed || o.SecondsLeft != 0 {
		t.Errorf("Overall with a failure = %+v", o)
	}
}

func TestProgressText(t *testing.T) {
	p := Progress{Image: "x", Status: Pulling, LayersDone: 2, LayersTotal: 5, BytesDone: 12_345_678, BytesTotal: 40_000_000,
		SizeKnown: true, Rate: 2_100_000, SecondsLeft: 13}
	if got, want := p.Summary(), "2 of 5 layers, 12.3 MB of 40.0 MB, 2.1 MB/s, about 13 s left"; got != want {
		t.Errorf("Summary = %q, want %q", got, want)
	}
	p.SizeKnown, p.Rate, p.SecondsLeft, p.Note = false, 0, -1, "extracting"
	if got, want := p.Summary(), "2 of 5 layers, 12.3 MB of at least 40.0 MB, extracting"; got != want {
		t.Errorf("Summary = %q, want %q", got, want)
	}
	if got := (Progress{Status: Queued, SecondsLeft: -1}).Summary(); got != "" {
		t.Errorf("queued Summary = %q, want empty", got)
	}
	for n, want := range map[int64]string{999: "999 B", 1500: "1.5 kB", 2_500_000_000: "2.5 GB"} {
		if got := FormatBytes(n); got != want {
			t.Errorf("FormatBytes(%d) = %q, want %q", n, got, want)
		}
	}
	for s, want := range map[int64]string{89: "89 s", 600: "10 min", 7500: "2 h 5 min"} {
		if got := FormatSeconds(s); got != want {
			t.Errorf("FormatSeconds(%d) = %q, want %q", s, got, want)
		}
	}
}
