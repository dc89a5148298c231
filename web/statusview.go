package web

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/carto-setup/carto-setup/internal/wizard"
)

// ChipView is one service as a coloured chip: its state, health, restarts
// and uptime. Verdict is "ok", "pending" or "failed".
type ChipView struct {
	Service   string
	Container string
	State     string
	ExitCode  int
	Health    string
	Restarts  int
	Uptime    string `json:"-"` // scripts compute it from StartedAt
	Verdict   string
	Reason    string
	Expected  string
	StartedAt time.Time
}

// stateText is the chip's state line.
func (c ChipView) stateText() string {
	switch c.State {
	case "":
		return "no container"
	case "exited", "restarting":
		return c.State + " (" + strconv.Itoa(c.ExitCode) + ")"
	}
	return c.State
}

func (c ChipView) healthText() string {
	if c.Health == "" {
		return "no healthcheck"
	}
	return c.Health
}

// Uptime says how long ago t was, in the largest two units.
func Uptime(t, now time.Time) string {
	if t.IsZero() || now.Before(t) {
		return ""
	}
	return Duration(now.Sub(t))
}

// Duration renders d as "1d 2h", "3h 4m", "5m 6s" or "7s".
func Duration(d time.Duration) string {
	d = d.Round(time.Second)
	days, hours, mins, secs := int(d/(24*time.Hour)), int(d/time.Hour)%24, int(d/time.Minute)%60, int(d/time.Second)%60
	switch {
	case days > 0:
		return fmt.Sprintf("%dd %dh", days, hours)
	case hours > 0:
		return fmt.Sprintf("%dh %dm", hours, mins)
	case mins > 0:
		return fmt.Sprintf("%dm %ds", mins, secs)
	}
	return fmt.Sprintf("%ds", secs)
}

// ChangeView is one pending change: a step whose input differs from what
// is installed.
type ChangeView struct {
	Step   wizard.Step
	Detail string
}

// Spark is a server-rendered sparkline: the points of an SVG polyline in a
// Width x Height box, so the chart needs no script.
type Spark struct {
	Points string
	Width  int
	Height int
	Last   string // the latest value, as text
	Peak   string // the highest value in the window, as text
}

// NewSpark scales values (oldest first) into a sparkline; top is the
// value drawn at the top (at least the highest value). Fewer than two
// values give no line.
func NewSpark(values []float64, top float64, width, height int, format func(float64) string) Spark {
	sp := Spark{Width: width, Height: height}
	if len(values) == 0 {
		return sp
	}
	peak := values[0]
	for _, v := range values {
		peak = max(peak, v)
	}
	sp.Last, sp.Peak = format(values[len(values)-1]), format(peak)
	if len(values) < 2 {
		return sp
	}
	top = max(top, peak)
	if top <= 0 {
		top = 1
	}
	var b strings.Builder
	step := float64(width) / float64(len(values)-1)
	for i, v := range values {
		y := float64(height) - v/top*float64(height-2) - 1
		fmt.Fprintf(&b, "%.1f,%.1f ", float64(i)*step, y)
	}
	sp.Points = strings.TrimSpace(b.String())
	return sp
}

// UsageView is one service's CPU and memory over the last hour.
type UsageView struct {
	Service string
	CPU     Spark
	Memory  Spark
}

// CertView is the installed router certificate's expiry.
type CertView struct {
	Known       bool
	Problem     string
	Generated   bool
	Names       string
	Fingerprint string
	NotAfter    time.Time
	DaysLeft    int
	// Level colours the countdown: pass, warn (under 30 days) or fail
	// (under 7, or expired).
	Level string
}

// SmokeSummary is the last smoke test.
type SmokeSummary struct {
	Ran                          bool
	At                           time.Time
	Passed, Warned, Failed, Errs int
	// Stale: it ran before the last install.
	Stale bool
}

// StatusView is the Status page: the running install at a glance.
type StatusView struct {
	Progress       Progress
	Domain         string
	Services       []ChipView
	Ready          int
	EngineProblem  string
	Release        string // installed
	CheckedOut     string // the release's VERSION now
	PackageVersion string
	InstalledAt    time.Time
	Cert           CertView
	Smoke          SmokeSummary
	Changes        []ChangeView
	Usage          []UsageView
	UsageProblem   string
	// Overrides are the failed checks the admin continued past, with
	// their reasons (warnings left out).
	Overrides []wizard.Override
	Now       time.Time
	// Notice says the checkout moved to another release (the page's
	// static part: the live refresh does not ask git again).
	Notice ReleaseNotice
}

// Total is the number of services.
func (v StatusView) Total() int { return len(v.Services) }

// AllReady says every service is as expected.
func (v StatusView) AllReady() bool { return v.Ready == len(v.Services) && len(v.Services) > 0 }
