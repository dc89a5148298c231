package server

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/carto-setup/carto-setup/internal/check"
	"github.com/carto-setup/carto-setup/internal/stats"
	"github.com/carto-setup/carto-setup/internal/status"
	"github.com/carto-setup/carto-setup/internal/wizard"
	"github.com/carto-setup/carto-setup/static"
	"github.com/carto-setup/carto-setup/web"
)

// StatusReader reads the running install; *status.Reader is the real one.
type StatusReader interface {
	Read(ctx context.Context, st wizard.State) status.Report
}

// handleHome is the Status page once CARTO is installed, and otherwise
// sends the admin to the step where they left off.
func (d *Deps) handleHome(w http.ResponseWriter, r *http.Request) error {
	st, err := d.Store.Load()
	if err != nil {
		return err
	}
	if st.Installed() {
		v := d.statusView(r.Context(), st)
		v.Notice = d.releaseNotice(r.Context())
		return render(w, r, http.StatusOK, web.StatusPage(v))
	}
	return redirect(w, r, stepURL(wizard.FirstIncomplete(st)))
}

// handleStatusLive is the changing part of the Status page, which its
// script fetches every few seconds.
func (d *Deps) handleStatusLive(w http.ResponseWriter, r *http.Request) error {
	st, err := d.Store.Load()
	if err != nil {
		return err
	}
	if !st.Installed() {
		return &appError{Status: http.StatusNotFound, Title: "Not installed yet", Message: "The Status page shows an installed CARTO; finish the wizard first."}
	}
	w.Header().Set("Cache-Control", "no-store")
	return render(w, r, http.StatusOK, web.StatusLive(d.statusView(r.Context(), st)))
}

// handleFavicon answers browsers that ask for /favicon.ico whatever the
// page links to.
func handleFavicon(w http.ResponseWriter, r *http.Request) {
	http.Redirect(w, r, static.URL("favicon.svg"), http.StatusMovedPermanently)
}

// statusView builds the Status page's model.
func (d *Deps) statusView(ctx context.Context, st wizard.State) web.StatusView {
	now := d.Now()
	p := web.NewProgress(st, "")
	p.StatusCurrent = true
	v := web.StatusView{
		Progress: p, Domain: st.LastInstall.Domain, Release: st.LastInstall.Release, PackageVersion: st.LastInstall.PackageVersion,
		InstalledAt: st.LastInstall.At, Now: now, Changes: pendingChanges(st),
	}
	if v.Domain == "" {
		v.Domain = st.Domain.Domain
	}
	if v.PackageVersion == "" {
		v.PackageVersion = st.Package.Summary.PackageVersion
	}
	for _, o := range st.Overrides {
		if o.Reason != wizard.WarningReason {
			v.Overrides = append(v.Overrides, o)
		}
	}
	v.Smoke = smokeSummary(st)
	if d.Status == nil {
		v.EngineProblem = "This wizard cannot read the running services."
		return v
	}
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	rep := d.Status.Read(rctx, st)
	if rep.Domain != "" {
		v.Domain = rep.Domain
	}
	if v.Release == "" {
		v.Release = rep.CheckedOut
	}
	v.CheckedOut, v.Ready, v.EngineProblem, v.UsageProblem = rep.CheckedOut, rep.Ready, rep.EngineProblem, rep.UsageProblem
	for _, s := range rep.Services {
		c := web.ChipView{Service: s.Name, Container: s.Container, State: s.State, ExitCode: s.ExitCode, Health: s.Health,
			Restarts: s.Restarts, StartedAt: s.StartedAt, Verdict: s.Verdict, Reason: s.Reason}
		if s.State == "running" {
			// The daemon's timestamps: the wall clock, not the
			// injectable one.
			c.Uptime = web.Uptime(s.StartedAt, time.Now())
		}
		v.Services = append(v.Services, c)
	}
	v.Cert = certView(rep.Cert, now)
	for _, sr := range rep.Usage {
		v.Usage = append(v.Usage, usageView(sr))
	}
	return v
}

// pendingChanges lists the steps changed since the install, with what
// changed where it can be said without a secret.
func pendingChanges(st wizard.State) []web.ChangeView {
	var out []web.ChangeView
	for _, s := range st.Changed() {
		c := web.ChangeView{Step: s}
		switch s {
		case wizard.Domain:
			c.Detail = st.LastInstall.Domain + " → " + st.Domain.Domain
		case wizard.TLS:
			c.Detail = "a new router certificate"
			if st.TLS.Fingerprint != "" {
				c.Detail += " (SHA-256 " + st.TLS.Fingerprint + ")"
			}
		default:
			c.Detail = "settings changed"
		}
		out = append(out, c)
	}
	return out
}

func smokeSummary(st wizard.State) web.SmokeSummary {
	run, ok := st.Checks[wizard.Smoke]
	if !ok || len(run.Results) == 0 {
		return web.SmokeSummary{}
	}
	s := web.SmokeSummary{Ran: true, At: run.At, Stale: !st.LastInstall.At.IsZero() && run.At.Before(st.LastInstall.At)}
	for _, r := range run.Results {
		switch r.Status {
		case check.Pass:
			s.Passed++
		case check.Warn:
			s.Warned++
		case check.Fail:
			s.Failed++
		case check.Error:
			s.Errs++
		}
	}
	return s
}

// certView turns the installed certificate into its countdown: amber
// under 30 days, red under 7 days or expired.
func certView(c status.Cert, now time.Time) web.CertView {
	v := web.CertView{Known: c.Known, Problem: c.Problem, Generated: c.Generated, Names: c.Names, Fingerprint: c.Fingerprint, NotAfter: c.NotAfter}
	if !c.Known || c.Generated {
		v.Level = "warn"
		if !c.Known {
			v.Level = "fail"
		}
		return v
	}
	left := c.NotAfter.Sub(now)
	v.DaysLeft = int(left / (24 * time.Hour))
	if left < 0 {
		v.DaysLeft = -1
	}
	switch {
	case left < 7*24*time.Hour:
		v.Level = "fail"
	case left < 30*24*time.Hour:
		v.Level = "warn"
	default:
		v.Level = "pass"
	}
	return v
}

// Sparkline sizes, in SVG units.
const sparkWidth, sparkHeight = 180, 32

// usageView draws a service's last hour: CPU against one CPU busy (or the
// peak, when higher), memory against its limit.
func usageView(sr stats.Series) web.UsageView {
	var cpu, mem []float64
	var limit uint64
	for _, p := range sr.Points {
		if p.HasCPU {
			cpu = append(cpu, p.CPUPercent)
		}
		mem = append(mem, float64(p.MemoryBytes))
		if p.MemoryLimit > 0 {
			limit = p.MemoryLimit
		}
	}
	top := 0.0
	if peak := maxOf(mem); limit > 0 && float64(limit) < 4*peak {
		top = float64(limit) // draw against the limit only when it is near
	}
	return web.UsageView{
		Service: sr.Service,
		CPU:     web.NewSpark(cpu, 100, sparkWidth, sparkHeight, func(f float64) string { return fmt.Sprintf("%.1f%%", f) }),
		Memory:  web.NewSpark(mem, top, sparkWidth, sparkHeight, bytesText),
	}
}

func maxOf(vs []float64) float64 {
	m := 0.0
	for _, v := range vs {
		m = max(m, v)
	}
	return m
}

// bytesText renders a size in binary units.
func bytesText(f float64) string {
	const unit = 1024
	switch {
	case f >= unit*unit*unit:
		return fmt.Sprintf("%.1f GiB", f/(unit*unit*unit))
	case f >= unit*unit:
		return fmt.Sprintf("%.1f MiB", f/(unit*unit))
	case f >= unit:
		return fmt.Sprintf("%.0f KiB", f/unit)
	}
	return fmt.Sprintf("%.0f B", f)
}
