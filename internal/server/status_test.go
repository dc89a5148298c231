package server

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/carto-setup/carto-setup/internal/check"
	"github.com/carto-setup/carto-setup/internal/stats"
	"github.com/carto-setup/carto-setup/internal/status"
	"github.com/carto-setup/carto-setup/internal/wizard"
)

type fakeStatus struct{ rep status.Report }

func (f fakeStatus) Read(context.Context, wizard.State) status.Report { return f.rep }

// TestStatusPage: once installed, the home page is the Status page: a chip
// per service coloured by its verdict, the ready count, the certificate
// countdown, the last smoke test, the pending changes leading to Review,
// and the charts as SVG (no script needed); the live part alone is served
// for the script.
func TestStatusPage(t *testing.T) {
	f := newFixture(t)
	now := time.Now()
	points := func(cpu ...float64) []stats.Point {
		var out []stats.Point
		for i, c := range cpu {
			out = append(out, stats.Point{At: now.Add(time.Duration(i-len(cpu)) * 10 * time.Second), CPUPercent: c, HasCPU: true, MemoryBytes: uint64(20+i) << 20, MemoryLimit: 1 << 30, Containers: 1})
		}
		return out
	}
	f.deps.Status = fakeStatus{status.Report{
		Services: []status.Service{
			{Name: "router-http", State: "running", Verdict: status.OK, Reason: "running", StartedAt: now.Add(-90 * time.Second)},
			{Name: "workspace-api", State: "exited", ExitCode: 137, Verdict: status.Failed, Reason: "exited with code 137", Restarts: 2},
			{Name: "workspace-migrations", State: "exited", Verdict: status.OK, OneShot: true},
		},
		Ready: 2, CheckedOut: "2026.8.11", Domain: "carto.example.com",
		Cert:  status.Cert{Known: true, Names: "carto.example.com", NotAfter: now.Add(20*24*time.Hour + time.Hour)},
		Usage: []stats.Series{{Service: "router-http", Points: points(1, 3, 2, 5)}},
	}}
	f.router = routes(f.deps)

	// Not installed yet: home is the first step.
	res, _ := f.get(t, "/")
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("home before the install: %d", res.StatusCode)
	}

	f.deps.Store.Update(func(st *wizard.State) error {
		st.Domain.Domain = "carto.example.com"
		st.Package.Summary.PackageVersion = "2026.8.1"
		for _, s := range wizard.Steps {
			st.MarkDone(s)
		}
		st.RecordInstall(*st, now.Add(-time.Hour), "2026.8.11")
		st.SetChecks(wizard.Smoke, wizard.NewCheckRun(now.Add(-30*time.Minute), []check.Result{{ID: "smoke.http.redirect", Status: check.Pass}}))
		st.Domain.Domain = "carto2.example.com" // changed since
		return nil
	})
	res, doc := f.get(t, "/")
	if res.StatusCode != http.StatusOK || doc.Find("h1").Text() != "Status" {
		t.Fatalf("home once installed: %d %q", res.StatusCode, doc.Find("h1").Text())
	}
	chips := doc.Find("#status-services li.chip")
	if chips.Length() != 3 {
		t.Fatalf("%d chips", chips.Length())
	}
	if api := doc.Find(`#status-services li[data-service="workspace-api"]`); !api.HasClass("failed") || !strings.Contains(api.Text(), "exited (137)") || !strings.Contains(api.Text(), "2 restarts") {
		t.Errorf("workspace-api chip: %q", api.Text())
	}
	if up := doc.Find(`#status-services li[data-service="router-http"] .uptime`).Text(); up == "" {
		t.Error("no uptime on a running service")
	}
	if got := strings.TrimSpace(doc.Find("#ready-count strong").Text()); got != "2 of 3 ready" {
		t.Errorf("ready count %q", got)
	}
	if cert := doc.Find("#status-cert"); !strings.Contains(cert.Text(), "20 days left") || !cert.HasClass("warn") {
		t.Errorf("certificate countdown %q", cert.Text())
	}
	if !strings.Contains(doc.Find("#status-smoke").Text(), "passed") || !strings.Contains(doc.Find("#status-release").Text(), "2026.8.11") {
		t.Errorf("smoke %q, release %q", doc.Find("#status-smoke").Text(), doc.Find("#status-release").Text())
	}
	pending := doc.Find(`#pending-changes li[data-step="domain"]`)
	if !strings.Contains(pending.Text(), "carto.example.com → carto2.example.com") || doc.Find(`#pending-changes a[href="/steps/review"]`).Length() != 1 {
		t.Errorf("pending changes: %q", doc.Find("#pending-changes").Text())
	}
	for _, step := range []string{"domain", "review", "install", "smoke"} {
		if !strings.Contains(doc.Find(`nav.steps li[data-step="`+step+`"] .marker`).Text(), "changed since install") {
			t.Errorf("sidebar: %s not marked changed since install", step)
		}
	}
	if doc.Find(`nav.steps li[data-step="database"] .marker`).Length() != 0 {
		t.Error("sidebar: an unchanged step is marked")
	}
	line := doc.Find(`#usage .usage-row[data-service="router-http"] .spark.cpu polyline`)
	if pts, _ := line.Attr("points"); strings.Count(pts, ",") != 4 {
		t.Errorf("CPU sparkline points %q, want 4", pts)
	}
	if html, _ := doc.Html(); !strings.Contains(html, `<noscript><meta http-equiv="refresh"`) || doc.Find(`script[src*="status.js"]`).Length() != 1 {
		t.Error("the page neither refreshes itself without script nor loads its script")
	}

	res, doc = f.get(t, "/status/live")
	if res.StatusCode != http.StatusOK || doc.Find("#status-services li.chip").Length() != 3 || doc.Find("nav").Length() != 0 {
		t.Fatalf("live part: %d", res.StatusCode)
	}
}
