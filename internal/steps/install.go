package steps

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os/exec"
	"sync"
	"time"

	"github.com/carto-setup/carto-setup/internal/check"
	"github.com/carto-setup/carto-setup/internal/compose"
	"github.com/carto-setup/carto-setup/internal/deploy"
	"github.com/carto-setup/carto-setup/internal/engine"
	"github.com/carto-setup/carto-setup/internal/jobs"
	"github.com/carto-setup/carto-setup/internal/logstream"
	"github.com/carto-setup/carto-setup/internal/wizard"
)

// jobLogContainer is the name the job's own output carries in the log view.
const jobLogContainer = "carto-setup"

// InstallConfig is what the install needs besides the state.
type InstallConfig struct {
	Log *slog.Logger
	// Runner runs installs as jobs for the wizard; the foreground Install
	// of the command line needs none.
	Runner     *jobs.Runner
	Store      wizard.Store
	ReleaseDir string
	Project    string
	Expect     time.Duration
	Now        func() time.Time
	// EnsureImages makes sure the engine has the release's images before
	// Compose starts (deploy.RunConfig.EnsureImages); nil leaves that to
	// Compose.
	EnsureImages func(ctx context.Context, plan deploy.Plan, progress io.Writer) error
	// Logs is the wizard's project follower, which the install's board
	// and log view read instead of following the containers themselves;
	// nil (the command line) follows them for the time of the install.
	Logs deploy.ProjectLogs
}

// Installer plans and runs the install: from the wizard state to
// deploy.NewPlan (what to write) and deploy.Run (write, compose up, follow,
// wait), in the foreground for the command line or as a job whose board
// and log the wizard's pages show.
type Installer struct {
	c InstallConfig

	mu   sync.Mutex
	runs map[string]*installRun
}

// installRun is what one job shows while and after it runs.
type installRun struct {
	hub   *logstream.Hub
	board *deploy.Board
	plan  deploy.Plan
}

// NewInstaller returns an installer.
func NewInstaller(c InstallConfig) *Installer {
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return &Installer{c: c, runs: map[string]*installRun{}}
}

// Review is what an install would do, planned without writing anything.
type Review struct {
	Diff  []deploy.DiffLine
	Files []deploy.FileSummary
	// Command is the Compose command, or why none was found.
	Command string
	// Problems are the failed checks that stop the install.
	Problems []check.Result
}

// Review plans the install of st without writing anything.
func (in *Installer) Review(ctx context.Context, st wizard.State) (Review, error) {
	plan, err := deploy.NewPlan(st, in.c.ReleaseDir)
	var refused *deploy.RefusedError
	if errors.As(err, &refused) {
		var rv Review
		for _, r := range refused.Results {
			if r.Status == check.Fail {
				rv.Problems = append(rv.Problems, r)
			}
		}
		return rv, nil
	}
	if err != nil {
		return Review{}, err
	}
	rv := Review{Diff: plan.Diff(), Files: plan.Files()}
	tool, err := compose.Detect(ctx, exec.LookPath, compose.Exec)
	if err != nil {
		rv.Command = "Docker Compose was not found: install docker-compose 1.29+ or the docker compose plugin."
	} else {
		rv.Command = plan.ComposeCommand(tool, in.c.Project)
	}
	return rv, nil
}

// Install runs the plan in the foreground; progress lines, masked, go to
// out. The step is marked done when every service reached its state.
func (in *Installer) Install(ctx context.Context, plan deploy.Plan, out io.Writer) error {
	run := &installRun{hub: logstream.NewHub(logstream.HubConfig{}), board: deploy.NewBoard(deploy.BoardConfig{}), plan: plan}
	if err := in.run(ctx, run, out); err != nil {
		return err
	}
	_, err := in.c.Store.Update(func(s *wizard.State) error { s.MarkDone(wizard.Install); return nil })
	return err
}

// Start plans and starts an install job for st and returns its ID, or
// jobs.ErrBusy while one runs.
func (in *Installer) Start(st wizard.State) (string, error) {
	plan, err := deploy.NewPlan(st, in.c.ReleaseDir)
	if err != nil {
		return "", err
	}
	// The board and the job's log lines compare with the daemon's
	// timestamps, so they use the wall clock, not the injectable one.
	run := &installRun{hub: logstream.NewHub(logstream.HubConfig{}), board: deploy.NewBoard(deploy.BoardConfig{}), plan: plan}
	rec, err := in.c.Runner.Start("install", func(ctx context.Context, id string) error {
		out := &hubWriter{hub: run.hub, now: time.Now, masker: plan.Masker()}
		defer out.Flush()
		if err := in.run(ctx, run, out); err != nil {
			in.c.Log.Warn("install failed", "job", id, "err", err)
			var de *deploy.Error
			if errors.As(err, &de) {
				return errors.New(de.Error()) // message and hint only, no raw tool output
			}
			return errors.New("the install stopped with an unexpected error; the console log has the details")
		}
		_, err := in.c.Store.Update(func(s *wizard.State) error { s.MarkDone(wizard.Install); return nil })
		return err
	})
	if err != nil {
		return rec.ID, err
	}
	in.mu.Lock()
	in.runs[rec.ID] = run
	in.mu.Unlock()
	return rec.ID, nil
}

// run runs the plan of run; progress lines go to out.
func (in *Installer) run(ctx context.Context, run *installRun, out io.Writer) error {
	eng, err := engine.New(ctx)
	if err != nil {
		return &deploy.Error{Step: "engine", Message: "The Docker Engine is not reachable.", Hint: "Start Docker and check that this user may use its socket (the docker group).", Err: err}
	}
	defer eng.Close()
	return deploy.Run(ctx, deploy.Deps{Compose: deploy.SystemCompose{}, Docker: eng}, deploy.RunConfig{
		Plan: run.plan, Project: in.c.Project, Expect: in.c.Expect, EnsureImages: in.c.EnsureImages,
		Hub: run.hub, Board: run.board, Now: in.c.Now, Logs: in.c.Logs,
	}, out)
}

// InstallStatus is the state of one install job: its record and, while
// this process ran it, the board, the failing services and the latest
// log lines.
type InstallStatus struct {
	Record jobs.Record
	// Live is false for a job of an earlier run of the wizard: only its
	// record is known.
	Live     bool
	Expected []deploy.Expectation
	Failing  []deploy.Failure
	Lines    []logstream.Line
}

// Status reports a job, or false for an unknown ID.
func (in *Installer) Status(id string) (InstallStatus, bool) {
	rec, ok := in.c.Runner.Get(id)
	if !ok {
		return InstallStatus{}, false
	}
	s := InstallStatus{Record: rec}
	in.mu.Lock()
	run := in.runs[id]
	in.mu.Unlock()
	if run == nil {
		return s, true
	}
	s.Live = true
	s.Expected = run.board.Expected(run.plan.Services(), run.plan.Scales())
	s.Failing = run.board.Failing(s.Expected, run.hub, run.plan.Masker(), 20)
	s.Lines = run.hub.Poll(jobLogTail(run.hub, 200), 200).Lines
	return s, true
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
func (in *Installer) Latest() (string, bool) {
	if rec, ok := in.c.Runner.Latest("install"); ok {
		return rec.ID, true
	}
	return "", false
}

// Logs is the live log of a job; a job of an earlier run of the wizard
// has an empty one.
func (in *Installer) Logs(id string) (*logstream.Hub, bool) {
	if _, ok := in.c.Runner.Get(id); !ok {
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
