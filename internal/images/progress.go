package images

import (
	"fmt"
	"strings"
	"time"

	"github.com/carto-setup/carto-setup/internal/engine"
)

// Status is where one image is in the pull phase.
type Status string

// The statuses of an image. Present images were on the engine before the
// phase and are not pulled; Skipped ones were not attempted because an
// earlier failure (unreachable registry, full disk) would fail them too.
const (
	Queued  Status = "queued"
	Present Status = "present"
	Pulling Status = "pulling"
	Done    Status = "done"
	Failed  Status = "failed"
	Skipped Status = "skipped"
)

// Progress is the state of one image, for the install board and for
// `apply --json` progress lines. Bytes are compressed bytes downloaded;
// layers the engine already had ("Already exists") count as done and add
// no bytes. BytesTotal grows while layer sizes become known unless the
// manifest gave them all up front (SizeKnown).
type Progress struct {
	Image       string   `json:"image"`
	Status      Status   `json:"status"`
	LayersDone  int      `json:"layers_done"`
	LayersTotal int      `json:"layers_total"`
	BytesDone   int64    `json:"bytes_done"`
	BytesTotal  int64    `json:"bytes_total"`
	SizeKnown   bool     `json:"size_known"`
	Rate        int64    `json:"bytes_per_second"`
	SecondsLeft int64    `json:"seconds_left"` // -1 while unknown
	Note        string   `json:"note,omitempty"`
	Failure     *Failure `json:"failure,omitempty"`
}

// layer phases, in order.
const (
	layerWaiting = iota
	layerDownloading
	layerDownloaded
	layerExtracting
	layerDone
	layerExisted
)

type layerState struct {
	phase      int
	size       int64 // compressed bytes; 0 while unknown
	downloaded int64
}

// rateWindow is how far back the download rate looks: long enough to
// smooth the daemon's bursty messages, short enough to follow a change.
const rateWindow = 10 * time.Second

type sample struct {
	at    time.Time
	bytes int64
}

// tracker turns one image's pull messages into Progress. It is not safe
// for concurrent use; Pull serialises access.
type tracker struct {
	p       Progress
	layers  map[string]*layerState
	order   []string
	seeded  map[string]int64 // short layer id -> size from the manifest
	samples []sample
	// lastAdvance is when bytes last moved (downloaded or extracted).
	lastAdvance time.Time
	extracted   map[string]int64
}

func newTracker(ref string, seeded map[string]int64, now time.Time) *tracker {
	t := &tracker{
		p:      Progress{Image: ref, Status: Queued, SecondsLeft: -1},
		layers: map[string]*layerState{}, seeded: seeded,
		lastAdvance: now, extracted: map[string]int64{},
	}
	// Seeding every layer from the manifest makes totals and time left
	// right from the first message.
	for id, size := range seeded {
		t.layers[id] = &layerState{size: size}
		t.order = append(t.order, id)
	}
	return t
}

// observe applies one message from the daemon.
func (t *tracker) observe(ev engine.PullEvent, now time.Time) {
	if ev.Layer == "" {
		return
	}
	l := t.layers[ev.Layer]
	if l == nil {
		l = &layerState{size: t.seeded[ev.Layer]}
		t.layers[ev.Layer] = l
		t.order = append(t.order, ev.Layer)
	}
	status := ev.Status
	switch {
	case status == "Downloading":
		if ev.Total > 0 {
			l.size = ev.Total
		}
		if ev.Current > l.downloaded {
			t.lastAdvance = now
		}
		l.downloaded = ev.Current
		l.phase = layerDownloading
		t.p.Note = ""
	case status == "Verifying Checksum" || status == "Download complete":
		if l.downloaded < l.size {
			t.lastAdvance = now
		}
		l.downloaded = l.size
		l.phase = layerDownloaded
	case status == "Extracting":
		if ev.Current > t.extracted[ev.Layer] {
			t.lastAdvance = now
			t.extracted[ev.Layer] = ev.Current
		}
		l.downloaded = l.size
		l.phase = layerExtracting
		t.p.Note = "extracting"
	case status == "Pull complete":
		l.downloaded = l.size
		l.phase = layerDone
		t.lastAdvance = now
		t.p.Note = ""
	case status == "Already exists":
		l.phase = layerExisted
		t.lastAdvance = now
	case strings.HasPrefix(status, "Retrying in"):
		t.p.Note = strings.ToLower(status[:1]) + status[1:]
	}
	t.recompute(now)
}

// recompute derives the counters, the rate and the time left.
func (t *tracker) recompute(now time.Time) {
	p := &t.p
	p.LayersTotal, p.LayersDone = len(t.layers), 0
	p.BytesDone, p.BytesTotal = 0, 0
	p.SizeKnown = len(t.layers) > 0
	for _, l := range t.layers {
		switch l.phase {
		case layerExisted:
			p.LayersDone++
			continue
		case layerDone:
			p.LayersDone++
		}
		if l.size == 0 {
			p.SizeKnown = false
		}
		p.BytesTotal += l.size
		p.BytesDone += l.downloaded
	}
	t.samples = append(t.samples, sample{now, p.BytesDone})
	for len(t.samples) > 2 && now.Sub(t.samples[1].at) >= rateWindow {
		t.samples = t.samples[1:]
	}
	first := t.samples[0]
	p.Rate = 0
	if dt := now.Sub(first.at).Seconds(); dt >= 0.5 {
		p.Rate = int64(float64(p.BytesDone-first.bytes) / dt)
	}
	p.SecondsLeft = -1
	switch {
	case p.SizeKnown && p.BytesDone >= p.BytesTotal:
		p.SecondsLeft = 0
	case p.SizeKnown && p.Rate > 0:
		p.SecondsLeft = (p.BytesTotal - p.BytesDone + p.Rate - 1) / p.Rate
	}
}

// snapshot returns the current progress, with the rate brought up to now
// (it decays while nothing arrives).
func (t *tracker) snapshot(now time.Time) Progress {
	if t.p.Status == Pulling {
		t.recompute(now)
	}
	return t.p
}

// Overall sums the progress of several images: what the board shows as
// the phase's total line.
func Overall(ps []Progress) Progress {
	o := Progress{Image: "", Status: Done, SizeKnown: true, SecondsLeft: 0}
	pulling := false
	for _, p := range ps {
		o.LayersDone += p.LayersDone
		o.LayersTotal += p.LayersTotal
		o.BytesDone += p.BytesDone
		o.BytesTotal += p.BytesTotal
		o.Rate += p.Rate
		switch p.Status {
		case Pulling, Queued:
			pulling = true
			if !p.SizeKnown {
				o.SizeKnown = false
			}
		case Failed, Skipped:
			o.Status = Failed
		}
	}
	if pulling && o.Status != Failed {
		o.Status = Pulling
	}
	o.SecondsLeft = -1
	switch {
	case !pulling:
		o.SecondsLeft = 0
	case o.SizeKnown && o.Rate > 0:
		o.SecondsLeft = (o.BytesTotal - o.BytesDone + o.Rate - 1) / o.Rate
	}
	return o
}

// FormatBytes writes a byte count in decimal units, as docker pull does:
// "512 B", "12.3 kB", "40.0 MB", "1.2 GB".
func FormatBytes(n int64) string {
	switch {
	case n < 1000:
		return fmt.Sprintf("%d B", n)
	case n < 1e6:
		return fmt.Sprintf("%.1f kB", float64(n)/1e3)
	case n < 1e9:
		return fmt.Sprintf("%.1f MB", float64(n)/1e6)
	}
	return fmt.Sprintf("%.1f GB", float64(n)/1e9)
}

// FormatSeconds writes a time left: "13 s", "4 min", "2 h 5 min".
func FormatSeconds(s int64) string {
	switch {
	case s < 90:
		return fmt.Sprintf("%d s", s)
	case s < 90*60:
		return fmt.Sprintf("%d min", (s+30)/60)
	}
	return fmt.Sprintf("%d h %d min", s/3600, (s%3600+30)/60)
}

// Layers is "2 of 5 layers", or "" before any layer is known.
func (p Progress) Layers() string {
	if p.LayersTotal == 0 {
		return ""
	}
	return fmt.Sprintf("%d of %d layers", p.LayersDone, p.LayersTotal)
}

// Bytes is "12.3 MB of 40.0 MB", "of at least" while some layer's size is
// still unknown, or "" before any size is known.
func (p Progress) Bytes() string {
	switch {
	case p.BytesTotal == 0 && p.BytesDone == 0:
		return ""
	case p.SizeKnown:
		return FormatBytes(p.BytesDone) + " of " + FormatBytes(p.BytesTotal)
	}
	return FormatBytes(p.BytesDone) + " of at least " + FormatBytes(p.BytesTotal)
}

// RateText is "2.1 MB/s", or "" while nothing moves.
func (p Progress) RateText() string {
	if p.Rate <= 0 {
		return ""
	}
	return FormatBytes(p.Rate) + "/s"
}

// LeftText is "about 13 s left", or "" when unknown or finished.
func (p Progress) LeftText() string {
	if p.SecondsLeft <= 0 {
		return ""
	}
	return "about " + FormatSeconds(p.SecondsLeft) + " left"
}

// Summary describes a pulling image in one line: "2 of 5 layers, 12.3 MB
// of 40.0 MB, 2.1 MB/s, about 13 s left".
func (p Progress) Summary() string {
	var parts []string
	for _, s := range []string{p.Layers(), p.Bytes(), p.RateText(), p.LeftText(), p.Note} {
		if s != "" {
			parts = append(parts, s)
		}
	}
	return strings.Join(parts, ", ")
}
