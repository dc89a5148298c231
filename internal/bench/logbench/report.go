package main

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/carto-setup/carto-setup/internal/bench/measure"
)

// report is one whole run.
type report struct {
	Machine  machine       `json:"machine"`
	Started  time.Time     `json:"started"`
	Finished time.Time     `json:"finished"`
	Phases   []phaseResult `json:"phases"`
}

func ratio(a, b float64) string {
	if a == 0 || b == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", a/b)
}

func delta(ours, theirs time.Duration, ok bool) string {
	if !ok {
		return "-"
	}
	return fmt.Sprintf("%+.1f", float64(ours-theirs)/float64(time.Millisecond))
}

// perM is CPU seconds per million lines.
func perM(cpu time.Duration, lines uint64) string {
	if cpu < 0 || lines == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", cpu.Seconds()/(float64(lines)/1e6))
}

func counts(r result) string {
	return fmt.Sprintf("%d/%d/%d/%d", r.Missing, r.Duplicate, r.Reordered, r.Corrupt+r.Foreign+r.WrongStrm)
}

func (rep report) print(w io.Writer) {
	m := rep.Machine
	fmt.Fprintf(w, "logbench %s to %s\n", rep.Started.Format(time.RFC3339), rep.Finished.Format(time.RFC3339))
	fmt.Fprintf(w, "machine: %s, %d cores, %s RAM, Linux %s; Docker Engine %s (API %s, %s log driver, %s); %s\n\n",
		m.CPU, m.Cores, m.MemTotal, m.Kernel, m.Docker, m.DockerAPI, m.LogDriver, m.StorageDrv, m.Go)

	fmt.Fprintln(w, "Completeness and throughput (docker = docker logs -f --timestamps; ours = the wizard's websocket, one fast client)")
	fmt.Fprintln(w)
	t := measure.Table{Header: []string{"phase", "lines", "docker miss/dup/reord/bad", "ours miss/dup/reord/bad", "ours gaps",
		"docker lines/s", "ours lines/s", "throughput ratio", "docker drain s", "ours drain s", "drain ratio"}}
	for _, p := range rep.Phases {
		if p.Err != "" && p.Produced == 0 {
			t.Add(p.Name, "error: "+p.Err)
			continue
		}
		t.Add(p.Name, strconv.FormatUint(p.Produced, 10), counts(p.Docker), counts(p.Ours), strconv.FormatUint(p.Ours.GapLines, 10),
			fmt.Sprintf("%.0f", p.Docker.LinesPerS), fmt.Sprintf("%.0f", p.Ours.LinesPerS), ratio(p.Ours.LinesPerS, p.Docker.LinesPerS),
			fmt.Sprintf("%.2f", p.Docker.Drain.Seconds()), fmt.Sprintf("%.2f", p.Ours.Drain.Seconds()),
			ratio(p.Ours.Drain.Seconds(), p.Docker.Drain.Seconds()))
	}
	t.Print(w)
	fmt.Fprintln(w)

	fmt.Fprintln(w, "Latency, write(2) in the container to line parsed by the consumer (ms)")
	fmt.Fprintln(w)
	t = measure.Table{Header: []string{"phase", "docker p50", "docker p99", "docker max", "ours p50", "ours p99", "ours max", "Δp50", "Δp99", "Δmax"}}
	for _, p := range rep.Phases {
		d, o := p.Docker.Latency, p.Ours.Latency
		ok := d.N > 0 && o.N > 0
		t.Add(p.Name, measure.Ms(d.P50, d.N > 0), measure.Ms(d.P99, d.N > 0), measure.Ms(d.Max, d.N > 0),
			measure.Ms(o.P50, o.N > 0), measure.Ms(o.P99, o.N > 0), measure.Ms(o.Max, o.N > 0),
			delta(o.P50, d.P50, ok), delta(o.P99, d.P99, ok), delta(o.Max, d.Max, ok))
	}
	t.Print(w)
	fmt.Fprintln(w)

	fmt.Fprintln(w, "Cost: CPU seconds per million lines (gate to last line) and peak RSS (MiB)")
	fmt.Fprintln(w)
	t = measure.Table{Header: []string{"phase", "dockerd CPU", "shim CPU", "ours CPU", "docker CLI CPU", "ours/CLI", "harness CPU",
		"dockerd RSS", "ours RSS", "docker CLI RSS", "daemon streams", "load1", "other containers", "first attached"}}
	for _, p := range rep.Phases {
		t.Add(p.Name, perM(p.DaemonCPU, p.Produced), perM(p.ShimCPU, p.Produced), perM(p.OursCPU, p.Produced), perM(p.CLICPU, p.Produced),
			ratio(p.OursCPU.Seconds(), p.CLICPU.Seconds()),
			perM(p.HarnessCPU, p.Produced), measure.MiB(p.PeakRSS["dockerd"]), measure.MiB(p.PeakRSS["ours"]), measure.MiB(p.PeakRSS["cli"]),
			strconv.Itoa(p.Opened), p.Load1, strconv.Itoa(p.Others), map[bool]string{true: "docker", false: "ours"}[p.DockerFirst])
	}
	t.Print(w)
	fmt.Fprintln(w)

	rep.printMedians(w)

	for _, p := range rep.Phases {
		if p.Runs > 1 {
			fmt.Fprintf(w, "Restart (%s): first line of the new run arrived %s ms after it started on ours, %s ms on docker logs -f (re-run with --since StartedAt when it exits, as compose does); ours also showed %d markers (exit, restart)\n\n",
				p.Name, measure.Ms(p.Ours.RestartGap, p.Ours.RestartGap != 0), measure.Ms(p.Docker.RestartGap, p.Docker.RestartGap != 0), p.Markers)
		}
	}

	var base, slow *phaseResult
	for i := range rep.Phases {
		switch {
		case rep.Phases[i].Slow != nil:
			slow = &rep.Phases[i]
		case rep.Phases[i].Name == "slow-base":
			base = &rep.Phases[i]
		}
	}
	if slow == nil {
		return
	}
	s := slow.Slow
	fmt.Fprintf(w, "Slow clients (logstream.md 5.4): %d in all: fast F, throttled T (4 KiB SO_RCVBUF, 16 KiB/s), %d stalled S, %d idle on a quiet job\n",
		slowClients, stalledClients, idleClients)
	fmt.Fprintln(w)
	t = measure.Table{Header: []string{"measure", "value"}}
	if base != nil {
		t.Add("F throughput with T+S+idle / without", ratio(slow.Ours.LinesPerS, base.Ours.LinesPerS))
		t.Add("F p99 with T+S+idle minus without (ms)", delta(slow.Ours.Latency.P99, base.Ours.Latency.P99, slow.Ours.Latency.N > 0 && base.Ours.Latency.N > 0))
	}
	t.Add("F throughput / docker logs -f, same run", ratio(slow.Ours.LinesPerS, slow.Docker.LinesPerS))
	t.Add("F p99 minus docker p99, same run (ms)", delta(slow.Ours.Latency.P99, slow.Docker.Latency.P99, slow.Ours.Latency.N > 0 && slow.Docker.Latency.N > 0))
	t.Add("F missing/dup/reord/bad, gap lines", counts(slow.Ours)+", "+strconv.FormatUint(slow.Ours.GapLines, 10))
	if s.StalledClosed == stalledClients {
		t.Add("every S disconnected by the server, the last after gate (s)", fmt.Sprintf("%.1f", s.StalledClosedAt.Seconds()))
	} else {
		t.Add("S disconnected by the server within the phase", fmt.Sprintf("%d of %d", s.StalledClosed, stalledClients))
	}
	if s.ThrottledClosedAt >= 0 {
		t.Add("T disconnected by the server after gate (s)", fmt.Sprintf("%.1f (%s)", s.ThrottledClosedAt.Seconds(), s.ThrottledErr))
	} else {
		t.Add("T disconnected by the server", "no")
	}
	tr := s.Throttled
	t.Add("T lines delivered / reported in gaps", fmt.Sprintf("%d / %d", tr.Delivered, tr.GapLines))
	t.Add("T hub seqs covered, holes, overlaps", fmt.Sprintf("%d of %d, %d, %d", s.ThrottledLast, s.HubLast, s.ThrottledHoles, s.ThrottledOverlaps))
	t.Add("T duplicates of generator lines", strconv.FormatInt(tr.Duplicate, 10))
	t.Add(fmt.Sprintf("server RSS before idle clients / after %d (MiB)", idleClients), measure.MiB(s.RSSBeforeIdle)+" / "+measure.MiB(s.RSSAfterIdle))
	t.Add("server RSS per idle client (KiB)", fmt.Sprintf("%.1f", float64(s.RSSAfterIdle-s.RSSBeforeIdle)/idleClients/1024))
	t.Add("Go heap in use per idle client, after GC (KiB)", fmt.Sprintf("%.1f", (float64(s.HeapAfterIdle)-float64(s.HeapBeforeIdle))/idleClients/1024))
	t.Add("server RSS peak during the phase (MiB)", measure.MiB(s.RSSMax))
	t.Add(fmt.Sprintf("server Go heap live at the end, after GC, %d clients connected (MiB)", slowClients-s.StalledClosed), measure.MiB(int64(s.HeapLive)))
	t.Add(fmt.Sprintf("websocket goroutines, max during (%d clients)", slowClients), strconv.Itoa(s.WSGoroutinesMax))
	t.Add("server goroutines: before clients / 2 s after all left", fmt.Sprintf("%d / %d (websocket: %d)", s.GoroutinesBase, s.GoroutinesAfter, s.WSGoroutinesAfter))
	t.Add("ingest lag, daemon timestamp to ring, p50/p99/max (ms)", fmt.Sprintf("%s / %s / %s", measure.Ms(s.Ingest.P50, s.Ingest.N > 0), measure.Ms(s.Ingest.P99, s.Ingest.N > 0), measure.Ms(s.Ingest.Max, s.Ingest.N > 0)))
	t.Print(w)
}

// printMedians summarises a phase run more than once by the medians of its
// headline ratios.
func (rep report) printMedians(w io.Writer) {
	groups := map[string][]phaseResult{}
	var order []string
	for _, p := range rep.Phases {
		if p.Err != "" || p.Group == "" {
			continue
		}
		if groups[p.Group] == nil {
			order = append(order, p.Group)
		}
		groups[p.Group] = append(groups[p.Group], p)
	}
	for _, g := range order {
		runs := groups[g]
		if len(runs) < 2 {
			continue
		}
		var drain, tput, cpu []float64
		for _, p := range runs {
			drain = append(drain, p.Ours.Drain.Seconds()/p.Docker.Drain.Seconds())
			tput = append(tput, p.Ours.LinesPerS/p.Docker.LinesPerS)
			cpu = append(cpu, p.OursCPU.Seconds()/p.CLICPU.Seconds())
		}
		fmt.Fprintf(w, "%s, median of %d runs: drain ratio %s, throughput ratio %s, CPU per line ours/docker CLI %s\n\n",
			g, len(runs), medianOf(drain), medianOf(tput), medianOf(cpu))
	}
}

// medianOf formats the median of xs, followed by every value in run order.
func medianOf(xs []float64) string {
	s := slices.Clone(xs)
	slices.Sort(s)
	m := s[len(s)/2]
	if len(s)%2 == 0 {
		m = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	var each []string
	for _, x := range xs {
		each = append(each, fmt.Sprintf("%.2f", x))
	}
	return fmt.Sprintf("%.2f (%s)", m, strings.Join(each, ", "))
}
