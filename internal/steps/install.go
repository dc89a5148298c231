package steps

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"time"

	"github.com/carto-setup/carto-setup/internal/check"
	"github.com/carto-setup/carto-setup/internal/compose"
	"github.com/carto-setup/carto-setup/internal/deploy"
	"github.com/carto-setup/carto-setup/internal/engine"
	"github.com/carto-setup/carto-setup/internal/history"
	"github.com/carto-setup/carto-setup/internal/images"
	"github.com/carto-setup/carto-setup/internal/jobs"
	"github.com/carto-setup/carto-setup/internal/logstream"
	"github.com/carto-setup/carto-setup/internal/redact"
	"github.com/carto-setup/carto-setup/internal/statelock"
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
	// Images is the pull phase that makes sure the engine has the
	// release's images before anything is written and Compose starts
	// (deploy.RunConfig.EnsureImages); nil leaves that to Compose.
	Images *ImagesConfig
	// ImageEvents, when set, receives the pull phase's progress as JSON
	// lines (apply --json).
	ImageEvents io.Writer
	// History, when set, records every install job the wizard starts.
	History *history.Store
	// StateDir holds the record of what the last install wrote, the base
	// of the next one's merge (deploy.PlanOptions.StateDir), and the
	// install lock, so that an install job never runs beside `apply` (or
	// another wizard) on the same state; empty plans without a record
	// and takes no lock.
	StateDir string
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

	// runs holds what each job shows: whole while it runs, its last
	// lines once it finished, for the few latest jobs only, so memory
	// returns after each install.
	runs *jobs.Retainer[*installRun]
}

// keptInstalls is how many finished installs keep their last log lines
// in memory for their job page.
const keptInstalls = 3

// installRun is what one job shows while and after it runs.
type installRun struct {
	hub    *logstream.Hub
	board  *deploy.Board
	plan   deploy.Plan
	images *ImagesBoard
}

// NewInstaller returns an installer.
func NewInstaller(c InstallConfig) *Installer {
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return &Installer{c: c, runs: jobs.NewRetainer(keptInstalls, shrinkRun)}
}

// shrinkRun keeps of a finished install what its job page shows: the
// board, the pull phase, the plan and the last lines of its log; the full
// log buffers are released.
func shrinkRun(r *installRun) *installRun {
	return &installRun{hub: jobs.TailHub(r.hub, jobs.TailLines), board: r.board, plan: r.plan, images: r.images}
}

// Review is what an install would do, planned without writing anything.
type Review struct {
	Diff  []deploy.DiffLine
	Files []deploy.FileSummary
	// Report is what happens to the admin's hand edits, the package's
	// changes, every file and service; its open conflicts stop the
	// install until the admin settles each one.
	Report deploy.Report
	// Command is the Compose command, or why none was found.
	Command string
	// Problems are the failed checks that stop the install.
	Problems []check.Result
	// Images are the release's images and which the engine has, when
	// the install has a pull phase; ImagesError says why they could not
	// be told.
	Images      []ImageState
	ImagesError string
}

// Resolutions returns the conflict resolutions saved in st, as the plan
// takes them.
func Resolutions(st wizard.State) map[string]deploy.Resolution {
	out := map[string]deploy.Resolution{}
	for k, v := range st.Resolutions {
		out[k] = deploy.Resolution(v)
	}
	return out
}

// Plan plans the install of st with the record of the last install and
// the resolutions saved in st.
func (in *Installer) Plan(st wizard.State) (deploy.Plan, error) {
	return deploy.NewPlanWith(st, in.c.ReleaseDir, deploy.PlanOptions{StateDir: in.c.StateDir, Resolutions: Resolutions(st)})
}

// Review plans the install of st without writing anything.
func (in *Installer) Review(ctx context.Context, st wizard.State) (Review, error) {
	plan, err := in.Plan(st)
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
	rv := Review{Diff: plan.Diff(), Files: plan.Files(), Report: plan.Report()}
	tool, err := compose.Detect(ctx, exec.LookPath, compose.Exec)
	if err != nil {
		rv.Command = "Docker Compose was not found: install docker-compose 1.29+ or the docker compose plugin."
	} else {
		rv.Command = plan.ComposeCommand(tool, in.c.Project)
	}
	if in.c.Images != nil {
		if rv.Images, err = ImageStates(ctx, PlanImages(plan)); err != nil {
			rv.ImagesError = "Docker could not tell which images it has: " + sentence(err)
		}
	}
	return rv, nil
}

// Resolve saves the admin's choice for each conflict (by Conflict.Key:
// deploy.KeepMine or deploy.TakeWizard); the next plan uses them. Any
// other value is refused, nothing saved.
func (in *Installer) Resolve(choices map[string]deploy.Resolution) (wizard.State, error) {
	for k, r := range choices {
		if r != deploy.KeepMine && r != deploy.TakeWizard {
			return wizard.State{}, fmt.Errorf("steps: resolve %s: %q is neither %q nor %q", k, r, deploy.KeepMine, deploy.TakeWizard)
		}
	}
	return in.c.Store.Update(func(s *wizard.State) error {
		if s.Resolutions == nil {
			s.Resolutions = map[string]string{}
		}
		for k, r := range choices {
			s.Resolutions[k] = string(r)
		}
		return nil
	})
}

// Install runs the plan of st in the foreground; progress lines, masked, go
// to out. When every service reached its state, the step is marked done
// and st recorded as what is installed (installed).
func (in *Installer) Install(ctx context.Context, st wizard.State, plan deploy.Plan, out io.Writer) error {
	run := &installRun{hub: logstream.NewHub(logstream.HubConfig{}), board: deploy.NewBoard(deploy.BoardConfig{}), plan: plan, images: &ImagesBoard{}}
	if err := in.run(ctx, run, out); err != nil {
		return err
	}
	return in.installed(st, plan)
}

// installed records a successful install of st: the install step is done,
// the inputs installed are remembered (so later changes show as "changed
// since install"), and the smoke test must run again, against this
// install.
func (in *Installer) installed(st wizard.State, plan deploy.Plan) error {
	_, err := in.c.Store.Update(func(s *wizard.State) error {
		s.MarkDone(wizard.Install)
		s.Resolutions = nil // the record keeps the choices that stand (deploy.Record.KeptMine)
		s.RecordInstall(st, in.c.Now(), plan.Version())
		delete(s.Done, wizard.Smoke)
		return nil
	})
	return err
}

// Start plans and starts an install job for st and returns its ID, or
// jobs.ErrBusy while one runs. While the plan has open conflicts it starts
// nothing and returns a *deploy.ConflictError.
func (in *Installer) Start(st wizard.State) (string, error) {
	plan, err := in.Plan(st)
	if err != nil {
		return "", err
	}
	if open := plan.Report().Open(); len(open) > 0 {
		return "", &deploy.ConflictError{Conflicts: open}
	}
	lock, err := in.lock()
	if err != nil {
		return "", err
	}
	// The board and the job's log lines compare with the daemon's
	// timestamps, so they use the wall clock, not the injectable one.
	run := &installRun{hub: logstream.NewHub(logstream.HubConfig{}), board: deploy.NewBoard(deploy.BoardConfig{}), plan: plan, images: &ImagesBoard{}}
	rec, err := in.c.Runner.Start("install", func(ctx context.Context, id string) error {
		defer lock.Release()
		defer in.runs.Finish(id)
		// Masked line by line, so that a secret split across two writes
		// and the body of a PEM key written line by line are masked too.
		out := redact.NewLineWriter(hubLines{hub: run.hub, now: time.Now}, plan.Masker())
		defer out.Flush()
		if lock != nil {
			if err := lock.StopLeftovers(ctx, in.c.Project, out); err != nil {
				in.c.Log.Warn("install not started", "job", id, "err", err)
				return errors.New(plan.Masker().MaskString("the install did not start: " + err.Error()))
			}
		}
		hrec, err := in.begin(ctx, plan, st)
		if err != nil {
			return err
		}
		err = in.run(ctx, run, out)
		if ferr := FinishInstall(hrec, err, "installed; every service reached its expected state"); ferr != nil {
			in.c.Log.Warn("install history not finished", "job", id, "err", ferr)
		}
		if err != nil {
			in.c.Log.Warn("install failed", "job", id, "err", err)
			var de *deploy.Error
			if errors.As(err, &de) {
				// Message and hint only, no raw tool output; masked, since
				// the job record is stored and shown.
				return errors.New(plan.Masker().MaskString(de.Error()))
			}
			return errors.New("the install stopped with an unexpected error; the console log has the details")
		}
		return in.installed(st, plan)
	})
	if err != nil {
		lock.Release()
		return rec.ID, err
	}
	in.runs.Put(rec.ID, run)
	return rec.ID, nil
}

// begin records the start of a wizard install in the history, when there
// is one; an install that cannot be recorded does not start.
func (in *Installer) begin(ctx context.Context, plan deploy.Plan, st wizard.State) (*history.Recording, error) {
	if in.c.History == nil {
		return nil, nil
	}
	rec, err := BeginInstall(ctx, in.c.History, history.Wizard, plan, st)
	if err != nil {
		in.c.Log.Warn("install not recorded", "err", err)
		return nil, errors.New("the install history could not be written, so nothing was installed; the console log has the details")
	}
	return rec, nil
}

// lock takes the install lock for a job: a *statelock.BusyError naming
// the holder while another process installs, jobs.ErrBusy while this
// wizard's own install runs.
func (in *Installer) lock() (*InstallLock, error) {
	if in.c.StateDir == "" {
		return nil, nil
	}
	lock, err := LockInstall(context.Background(), in.c.StateDir, HolderWizard, 0, in.c.Now)
	var busy *statelock.BusyError
	if errors.As(err, &busy) && busy.Known && busy.Holder.PID == os.Getpid() {
		return nil, jobs.ErrBusy
	}
	return lock, err
}

// run runs the plan of run; progress lines go to out.
func (in *Installer) run(ctx context.Context, run *installRun, out io.Writer) error {
	eng, err := engine.New(ctx)
	if err != nil {
		return &deploy.Error{Step: "engine", Message: "The Docker Engine is not reachable.", Hint: "Start Docker and check that this user may use its socket (the docker group).", Err: err}
	}
	defer eng.Close()
	var ensure func(ctx context.Context, plan deploy.Plan, progress io.Writer) error
	if in.c.Images != nil {
		ensure = pullPhase(*in.c.Images, run.images, in.c.ImageEvents)
	}
	return deploy.Run(ctx, deploy.Deps{Compose: deploy.SystemCompose{}, Docker: eng}, deploy.RunConfig{
		Plan: run.plan, Project: in.c.Project, Expect: in.c.Expect, EnsureImages: ensure,
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
	// Images is the pull phase's progress per image; empty before it.
	Images []images.Progress
}

// Status reports a job, or false for an unknown ID.
func (in *Installer) Status(id string) (InstallStatus, bool) {
	rec, ok := in.c.Runner.Get(id)
	if !ok {
		return InstallStatus{}, false
	}
	s := InstallStatus{Record: rec}
	run, ok := in.runs.Get(id)
	if !ok {
		return s, true
	}
	s.Live = true
	s.Expected = run.board.Expected(run.plan.Services(), run.plan.Scales())
	s.Failing = run.board.Failing(s.Expected, run.hub, run.plan.Masker(), 20)
	s.Lines = run.hub.Poll(jobLogTail(run.hub, 200), 200).Lines
	s.Images = run.images.Snapshot()
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
	if run, ok := in.runs.Get(id); ok {
		return run.hub, true
	}
	return logstream.NewHub(logstream.HubConfig{MaxLines: 1}), true
}

// hubLines turns the job's own progress output, already masked line by
// line by the redact.LineWriter in front of it, into log lines of the hub.
type hubLines struct {
	hub *logstream.Hub
	now func() time.Time
}

func (w hubLines) Write(p []byte) (int, error) {
	for line := range bytes.SplitSeq(bytes.TrimSuffix(p, []byte("\n")), []byte("\n")) {
		w.hub.Append(logstream.Line{Container: jobLogContainer, Service: jobLogContainer, Stream: logstream.Stdout, TS: w.now(),
			Text: string(bytes.TrimRight(line, "\r"))})
	}
	return len(p), nil
}
