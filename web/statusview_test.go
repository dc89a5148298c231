package web

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestNewSpark(t *testing.T) {
	pct := func(f float64) string { return strconv.FormatFloat(f, 'f', 0, 64) }
	if sp := NewSpark(nil, 100, 100, 20, pct); sp.Points != "" || sp.Last != "" {
		t.Errorf("no values: %+v", sp)
	}
	if sp := NewSpark([]float64{5}, 100, 100, 20, pct); sp.Points != "" || sp.Last == "" {
		t.Errorf("one value draws no line but says the value: %+v", sp)
	}
	sp := NewSpark([]float64{0, 50, 100}, 100, 100, 20, pct)
	if sp.Points != "0.0,19.0 50.0,10.0 100.0,1.0" {
		t.Errorf("points %q", sp.Points)
	}
	// A value above top raises the scale to it: the line stays in the box.
	sp = NewSpark([]float64{0, 400}, 100, 100, 20, pct)
	if !strings.HasSuffix(sp.Points, "100.0,1.0") {
		t.Errorf("over the top: %q", sp.Points)
	}
}

func TestDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		7 * time.Second: "7s", 65 * time.Second: "1m 5s", 2*time.Hour + 3*time.Minute: "2h 3m", 50 * time.Hour: "2d 2h",
	} {
		if got := Duration(d); got != want {
			t.Errorf("%v: %q, want %q", d, got, want)
		}
	}
	now := time.Now()
	if Uptime(time.Time{}, now) != "" || Uptime(now.Add(time.Minute), now) != "" {
		t.Error("uptime of no start, or of a start in the future")
	}
}
