package app

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/carto-setup/carto-setup/internal/compose"
	"github.com/carto-setup/carto-setup/internal/deploy"
	"github.com/carto-setup/carto-setup/internal/engine"
	"github.com/carto-setup/carto-setup/internal/jobs"
	"github.com/carto-setup/carto-setup/internal/logstream"
	"github.com/carto-setup/carto-setup/internal/wizard"
	"github.com/carto-setup/carto-setup/web"
)

// jobLogContainer is the name the job's own output carries in the log view.
const jobLogContainer = "carto-setup"

// installer runs installs as jobs: the data flows from the wizard state to
// deploy.NewPlan (what to write), deploy.Run (write, compose up, follow,
// wait) and back to the pages through the hub and the board.
type installer struct {
	log           *slog.Logger
	runner        *jobs.Runner
	store         wizard.Store
	releaseDir    string
	project       string
	standinBinary string // set when the release is the stand-in (--demo)
	expect        time.Duration
	now           func() time.Time

	mu     sync.Mutex
	runs   map[string]*installRun
	latest string
}

// installRun is what one job shows while and after it runs.
type installRun struct {
	hub   *logstream.Hub
	board *deploy.Board
	plan  deploy.Plan
	err   error
}

func newInstaller(log *slog.Logger, runner *jobs.Runner, store wizard.Store, cfg Config, now func() time.Time) *installer {
	return &installer{log: log, runner: runner, store: store, releaseDir: cfg.Dir, project: cfg.Project,
		standinBinary: cfg.StandinBinary, expect: cfg.Expect, now: now, runs: map[string]*installRun{}}
}

// Review plans the install without writing anything.
func (in *installer) Review(ctx context.Context, st wizard.State) (web.ReviewData, error) {
	plan, err := deploy.NewPlan(st, in.releaseDir)
	var refused *deploy.RefusedError
	if errors.As(err, &refused) {
		var rd web.ReviewData
		for _, r := range refused.Results {
			if r.Status == "fail" {
				rd.Problems = append(rd.Problems, r)
			}
		}
		return rd, nil
	}
	if err != nil {
		return web.ReviewData{}, err
	}
	rd := web.ReviewData{}
	for _, l := range plan.Diff() {
		op := string(l.Kind)
		if l.Kind == deploy.DiffHunk {
			op = "@"
		}
		rd.Diff = append(rd.Diff, web.DiffLine{Op: op, Text: l.Text})
	}
	for _, f := range plan.Files() {
		rd.Files = append(rd.Files, web.FileView{Path: f.Path, Mode: fmt.Sprintf("%04o", f.Mode.Perm()), Size: f.Size, Secret: f.Secret})
	}
	tool, err := compose.Detect(ctx, execLookPath, compose.Exec)
	if err != nil {
		rd.Command = "Docker Compose was not found: install docker-compose 1.29+ or the docker compose plugin."
	} else {
		rd.Command = plan.ComposeCommand(tool, in.project)
	}
	return rd, nil
}

// Start plans and starts an install job.
func (in *installer) Start(st wizard.State) (string, error) {
	plan, err := deploy.NewPlan(st, in.releaseDir)
	if err != nil {
		return "", err
	}
	// The board and the job's log lines compare with the daemon's
	// timestamps, so they use the wall clock, not the injectable one.
	run := &installRun{hub: logstream.NewHub(logstream.HubConfig{}), board: deploy.NewBoard(deploy.BoardConfig{}), plan: plan}
	rec, err := in.runner.Start("install", func(ctx context.Context, id string) error {
		out := &hubWriter{hub: run.hub, now: time.Now, masker: plan.Masker()}
		defer out.Flush()
		err := in.install(ctx, run, out)
		in.mu.Lock()
		run.err = err
		in.mu.Unlock()
		if err != nil {
			in.log.Warn("install failed", "job", id, "err", err)
			var de *deploy.Error
			if errors.As(err, &de) {
				return errors.New(de.Error()) // message and hint only, no raw tool output
			}
			return errors.New("the install stopped with an unexpected error; the console log has the details")
		}
		_, err = in.store.Update(func(s *wizard.State) error { s.MarkDone(wizard.Install); return nil })
		return err
	})
	if err != nil {
		return rec.ID, err
	}
	in.mu.Lock()
	in.runs[rec.ID] = run
	in.latest = rec.ID
	in.mu.Unlock()
	return rec.ID, nil
}

// install runs the plan of run; progress lines go to out (the job's log in
// the wizard, stderr for the headless apply).
func (in *installer) install(ctx context.Context, run *installRun, out io.Writer) error {
	eng, err := engine.New(ctx)
	if err != nil {
		return &deploy.Error{Step: "engine", Message: "The Docker Engine is not reachable.", Hint: "Start Docker and check that this user may use its socket (the docker group).", Err: err}
	}
	defer eng.Close()
	deps := deploy.Deps{Compose: deploy.SystemCompose{}, Docker: eng, Images: deploy.EngineImages{Client: eng}}
	return deploy.Run(ctx, deps, deploy.RunConfig{
		Plan: run.plan, Project: in.project, Expect: in.expect, StandinBinary: in.standinBinary,
		Hub: run.hub, Board: run.board, Now: in.now,
	}, out)
}

// Status reports a job: its record, and while this process ran it, the
// board and the failing services.
func (in *installer) Status(id string) (web.InstallData, bool) {
	rec, ok := in.runner.Get(id)
	if !ok {
		return web.InstallData{}, false
	}
	d := web.InstallData{ID: rec.ID, Status: string(rec.Status), Error: rec.Error, Started: rec.Started, Ended: rec.Ended}
	in.mu.Lock()
	run := in.runs[id]
	in.mu.Unlock()
	if run == nil {
		return d, true // a job of an earlier run of the wizard: its record only
	}
	exp := run.board.Expected(run.plan.Services(), run.plan.Scales())
	byService := map[string]deploy.ServiceStatus{}
	for _, s := range run.board.Snapshot() {
		byService[s.Service] = s
	}
	for _, e := range exp {
		s := byService[e.Service]
		state := s.State
		if state == "" {
			state = "not created yet"
		}
		expected := "running"
		if e.Service == deploy.MigrationsService {
			expected = "exited (0)"
		}
		d.Services = append(d.Services, web.ServiceView{
			Service: e.Service, Container: s.Container, State: state, ExitCode: s.ExitCode, Restarts: s.Restarts,
			Health: s.Health, StartedAt: s.StartedAt, Expected: expected, Status: string(e.Verdict), Reason: e.Reason,
		})
	}
	for _, f := range run.board.Failing(exp, run.hub, run.plan.Masker(), 20) {
		d.Failing = append(d.Failing, web.FailingView{Service: f.Service, Reason: f.Reason, Hint: f.Hint, LastLines: f.Lines})
	}
	b := run.hub.Poll(jobLogTail(run.hub, 200), 200)
	for _, l := range b.Lines {
		d.Lines = append(d.Lines, l.Service+" | "+l.Text)
	}
	return d, true
}

// jobLogTail returns cursors that read about the last n lines overall.
func jobLogTail(h *logstream.Hub, n int) logstream.Cursors {
	last := h.Last()
	c := logstream.Cursors{}
	per := uint64(n / max(1, len(last)))
	for k, v := range last {
		if v > per {
			c[k] = v - per
		}
	}
	return c
}

// Latest is the most recent install job.
func (in *installer) Latest() (string, bool) {
	if rec, ok := in.runner.Latest("install"); ok {
		return rec.ID, true
	}
	return "", false
}

// Logs is the live log of a job; a job of an earlier run of the wizard
// has an empty one.
func (in *installer) Logs(id string) (*logstream.Hub, bool) {
	if _, ok := in.runner.Get(id); !ok {
		return nil, false
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	if run := in.runs[id]; run != nil {
		return run.hub, true
	}
	return logstream.NewHub(logstream.HubConfig{MaxLines: 1}), true
}

// hubWriter turns the job's own progress output into log lines, masked.
type hubWriter struct {
	hub    *logstream.Hub
	now    func() time.Time
	masker *logstream.Masker
	mu     sync.Mutex
	buf    []byte
}

func (w *hubWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			return len(p), nil
		}
		w.emit(bytes.TrimRight(w.buf[:i], "\r"))
		w.buf = w.buf[i+1:]
	}
}

func (w *hubWriter) emit(line []byte) {
	w.hub.Append(logstream.Line{Container: jobLogContainer, Service: jobLogContainer, Stream: logstream.Stdout, TS: w.now(), Text: w.masker.MaskString(string(line))})
}

// Flush emits a last line without a newline.
func (w *hubWriter) Flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) > 0 {
		w.emit(w.buf)
		w.buf = nil
	}
}
