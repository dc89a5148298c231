package deploy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"strings"
	"time"

	"github.com/carto-setup/carto-setup/internal/compose"
	"github.com/carto-setup/carto-setup/internal/logstream"
	"github.com/carto-setup/carto-setup/internal/redact"
)

// DefaultProject is the pinned Compose project name of an install.
const DefaultProject = "carto-selfhosted"

// Composer finds and runs Docker Compose; SystemCompose is the real one.
type Composer interface {
	Detect(ctx context.Context) (compose.Tool, error)
	Up(ctx context.Context, tool compose.Tool, dir, project string, out io.Writer) error
}

// SystemCompose runs the Compose installed on the host through package
// compose.
type SystemCompose struct{}

// Detect finds docker-compose or the docker compose plugin.
func (SystemCompose) Detect(ctx context.Context) (compose.Tool, error) {
	return compose.Detect(ctx, exec.LookPath, compose.Exec)
}

// Up runs `up -d --remove-orphans`.
func (SystemCompose) Up(ctx context.Context, tool compose.Tool, dir, project string, out io.Writer) error {
	return compose.Up(ctx, tool, dir, project, out)
}

// Deps are the outside things an install works with.
type Deps struct {
	Compose Composer
	// Docker is the engine the log follower and the board read;
	// *engine.Client implements it.
	Docker logstream.Docker
	// Users reads the user of each service's image, so that exactly that
	// user may read the files the service mounts; nil means Docker when
	// it can (*engine.Client does).
	Users ImageUsers
	// Restarter restarts the services whose mounted files changed; nil
	// means Docker when it can.
	Restarter Restarter
}

// RunConfig says what to install and where to report.
type RunConfig struct {
	Plan Plan
	// ReleaseDir must be empty or the plan's release directory.
	ReleaseDir string
	// Project is the pinned Compose project name; "" means
	// DefaultProject.
	Project string
	// Expect bounds the wait for every service to reach its expected
	// state, counted from when Compose returns; 0 means 5 minutes.
	Expect time.Duration
	// EnsureImages, when set, makes sure the engine has the release's
	// images (the pull phase) before anything is written and before the
	// image users are read, with the progress writer of the job log. An
	// error stops the install; an *Error is returned as it is.
	EnsureImages func(ctx context.Context, plan Plan, progress io.Writer) error
	// Hub receives the containers' log lines and keeps them after Run
	// returns; nil means a private hub.
	Hub *logstream.Hub
	// Board is updated as containers change; nil means a private board.
	Board *Board
	// Logs is the wizard's project follower: the board and Hub are fed
	// from it, and MarkKind (logstream.MarkInstall when empty, or
	// logstream.MarkUpgrade) marks where this run began. Nil means a
	// follower of Run's own, for as long as it runs (the command line).
	Logs     ProjectLogs
	MarkKind string
	// Now is the clock of the customer.env backup name; nil means
	// time.Now.
	Now func() time.Time
	// Poll is how often the containers are inspected; 0 means 1 second.
	Poll time.Duration
	// LogLines is how many log lines of a failed service are reported;
	// 0 means 20.
	LogLines int
}

// Error is a failed install: the step that failed and a message and hint
// that are safe to show (no secret, no raw tool output). Failures names the
// services that did not reach their expected state.
type Error struct {
	Step     string // "apply", "images", "compose", "up", "wait"
	Message  string
	Hint     string
	Failures []Failure
	Err      error
}

// Error returns the message and the hint.
func (e *Error) Error() string {
	s := "deploy: " + e.Step + ": " + strings.TrimSuffix(e.Message, ".")
	if e.Hint != "" {
		s += ". " + e.Hint
	}
	return s
}

// Unwrap returns the underlying error, which may quote raw tool output.
func (e *Error) Unwrap() error { return e.Err }

// Run installs the plan: it refuses while a conflict is open, makes sure of
// the images (cfg.EnsureImages), finds Compose and reads the user of every
// image whose service reads a planned file, all before anything is
// written; then it writes the files (ApplyWith, each readable by exactly
// the users of the services that read it), follows the project's
// containers into the hub and the board, runs `compose up -d`, restarts
// the services Compose left running although a file they mount changed
// (Report.Restarts), and waits until every
// service of the release reaches its expected state (workspace-migrations
// exited 0, every other service running, services scaled to 0 left out),
// one fails, or cfg.Expect passes. Progress goes to out as lines, masked.
// It returns nil on success and an *Error otherwise, whose message names
// the failing services with a hint. The follower stops when Run returns;
// the hub keeps its lines.
func Run(ctx context.Context, deps Deps, cfg RunConfig, out io.Writer) error {
	if cfg.Plan.dir == "" {
		return errors.New("deploy: run: no plan")
	}
	if cfg.ReleaseDir != "" && cfg.ReleaseDir != cfg.Plan.dir {
		return fmt.Errorf("deploy: run: the plan is for %s, not %s", cfg.Plan.dir, cfg.ReleaseDir)
	}
	if deps.Compose == nil || deps.Docker == nil {
		return errors.New("deploy: run: Compose and Docker are required")
	}
	if cfg.Project == "" {
		cfg.Project = DefaultProject
	}
	if !compose.ValidProjectName(cfg.Project) {
		return fmt.Errorf("deploy: run: invalid project name %q", cfg.Project)
	}
	if cfg.Expect <= 0 {
		cfg.Expect = 5 * time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Poll <= 0 {
		cfg.Poll = time.Second
	}
	if cfg.LogLines <= 0 {
		cfg.LogLines = 20
	}
	if cfg.Hub == nil {
		cfg.Hub = logstream.NewHub(logstream.HubConfig{})
	}
	if cfg.Board == nil {
		cfg.Board = NewBoard(BoardConfig{})
	}
	if out == nil {
		out = io.Discard
	}
	masker := cfg.Plan.Masker()
	w := redact.NewLineWriter(out, masker)
	defer w.Flush()
	logf := func(format string, args ...any) { w.Line(fmt.Sprintf(format, args...)) }
	dir := cfg.Plan.dir

	// Everything that can fail is asked before anything is written.
	if open := cfg.Plan.report.Open(); len(open) > 0 {
		return applyError(&ConflictError{Conflicts: open})
	}
	if cfg.EnsureImages != nil {
		if err := cfg.EnsureImages(ctx, cfg.Plan, w); err != nil {
			var de *Error
			if errors.As(err, &de) {
				return err
			}
			return &Error{Step: "images", Message: "The release's images are not ready: " + sentence(err),
				Hint: "Check that Docker is running and that this user may use it.", Err: err}
		}
	}

	tool, err := deps.Compose.Detect(ctx)
	if err != nil {
		return &Error{Step: "compose", Message: sentence(err),
			Hint: "Install the docker compose plugin, or docker-compose 1.29 or newer.", Err: err}
	}
	logf("Using %s.", tool)
	users, err := ServiceUsers(ctx, deps.imageUsers(), cfg.Plan, logf)
	if err != nil {
		return err
	}

	logf("Writing the configuration into %s.", dir)
	applied := time.Now()
	if err := ApplyWith(cfg.Plan, ApplyOptions{Now: cfg.Now(), Users: users}); err != nil {
		return applyError(err)
	}
	for _, f := range cfg.Plan.report.Files {
		logf("  %s %s", f.Action, f.Path)
	}
	logAccess(cfg.Plan, users, logf)

	// Follow before starting anything, so that no event is missed: a
	// migration that fails at once dies before Compose even returns.
	board := cfg.Board
	onState := func(s logstream.StateChange) {
		board.Observe(s)
		reportState(s, logf)
	}
	if cfg.Logs != nil {
		cfg.Logs.SetMasker(masker)
		defer cfg.Logs.Tee(cfg.Hub)()
		defer cfg.Logs.Watch(onState)()
		kind := cfg.MarkKind
		if kind == "" {
			kind = logstream.MarkInstall
		}
		cfg.Logs.Mark(kind, startText(kind, cfg.Plan.Version()))
	} else {
		fctx, stopFollow := context.WithCancel(ctx)
		follower := logstream.NewFollower(logstream.FollowerConfig{
			Project: cfg.Project, Docker: deps.Docker, Hub: cfg.Hub, Masker: masker, OnState: onState,
		})
		followed := make(chan struct{})
		go func() {
			defer close(followed)
			follower.Run(fctx)
		}()
		defer func() {
			stopFollow()
			<-followed
		}()
	}

	logf("Running: %s", cfg.Plan.ComposeCommand(tool, cfg.Project))
	if err := deps.Compose.Up(ctx, tool, dir, cfg.Project, w); err != nil {
		w.Flush()
		var ue *compose.UpError
		if errors.As(err, &ue) {
			return &Error{Step: "up", Message: ue.Message(), Hint: ue.Hint(), Err: err}
		}
		if ctx.Err() != nil {
			return &Error{Step: "up", Message: "The install was cancelled.", Err: ctx.Err()}
		}
		return &Error{Step: "up", Message: "Docker Compose could not be run.",
			Hint: "Check that Docker Compose works for this user (docker-compose version).", Err: err}
	}
	w.Flush()
	if err := restartChanged(ctx, deps, cfg.Plan, cfg.Project, applied, logf); err != nil {
		return err
	}
	logf("Compose started the stack; waiting up to %s for every service.", cfg.Expect)
	return wait(ctx, deps.Docker, cfg, board, masker, logf)
}

// reportState writes the state changes that matter to the job log.
func reportState(s logstream.StateChange, logf func(string, ...any)) {
	name := s.Service
	if name == "" {
		name = s.Name
	}
	switch {
	case s.Action == "start":
		logf("%s: started", name)
	case s.Action == "die":
		logf("%s: exited with code %d", name, s.ExitCode)
	case strings.HasPrefix(s.Action, "health_status"):
		logf("%s: %s", name, s.Action)
	}
}

// wait polls the project until every expected service is where it should
// be, one fails, or the time is up.
func wait(ctx context.Context, docker logstream.Docker, cfg RunConfig, board *Board, m *redact.Redactor, logf func(string, ...any)) error {
	timeout := time.NewTimer(cfg.Expect)
	defer timeout.Stop()
	tick := time.NewTicker(cfg.Poll)
	defer tick.Stop()
	services := cfg.Plan.Services()
	scales := cfg.Plan.Scales()
	for {
		listed := reconcile(ctx, docker, cfg.Project, board)
		if len(services) == 0 {
			// The compose file could not be read line by line: expect
			// what Compose created.
			services = listed
		}
		exp := board.Expected(services, scales)
		if len(exp) > 0 && !slices.ContainsFunc(exp, func(e Expectation) bool { return e.Verdict != OK }) {
			logf("Every service reached its expected state.")
			return nil
		}
		if slices.ContainsFunc(exp, func(e Expectation) bool { return e.Verdict == Failed }) {
			// Give the follower a moment to store the last lines.
			sleep(ctx, min(2*time.Second, 2*cfg.Poll))
			failures := board.Failing(exp, cfg.Hub, m, cfg.LogLines)
			return failed(failures, logf)
		}
		select {
		case <-ctx.Done():
			return &Error{Step: "wait", Message: "The install was cancelled while the services were starting.", Err: ctx.Err()}
		case <-timeout.C:
			var pending []string
			for _, e := range exp {
				if e.Verdict != OK {
					pending = append(pending, e.Service+" ("+e.Reason+")")
				}
			}
			msg := fmt.Sprintf("After %s these services have not reached their expected state: %s.", cfg.Expect, strings.Join(pending, ", "))
			logf("%s", msg)
			return &Error{Step: "wait", Message: msg,
				Hint: "Read their logs; a service waiting on the database or the cache usually says so."}
		case <-tick.C:
		}
	}
}

// failed reports the failures to the log and builds the error.
func failed(failures []Failure, logf func(string, ...any)) error {
	var names, parts []string
	for _, f := range failures {
		names = append(names, f.Service)
		parts = append(parts, f.Service+" ("+f.Reason+")")
		logf("%s failed: %s.", f.Service, f.Reason)
		if len(f.Lines) > 0 {
			logf("Last log lines of %s:", f.Container)
			for _, l := range f.Lines {
				logf("  %s", l)
			}
		}
		logf("Hint: %s", f.Hint)
	}
	hint := ServiceHint("")
	if len(failures) == 1 {
		hint = failures[0].Hint
	} else if slices.Contains(names, MigrationsService) {
		hint = ServiceHint(MigrationsService)
	}
	msg := fmt.Sprintf("%d services failed: %s", len(failures), strings.Join(parts, "; "))
	if len(failures) == 1 {
		msg = failures[0].Service + " failed: " + failures[0].Reason
	}
	return &Error{Step: "wait", Message: msg, Hint: hint, Failures: failures}
}

// reconcile lists the project and inspects what the board cannot know from
// events alone; it returns the services it saw. Errors are left to the next
// round: the daemon may be busy while Compose starts many containers.
func reconcile(ctx context.Context, docker logstream.Docker, project string, board *Board) []string {
	list, err := docker.ProjectContainers(ctx, project)
	if err != nil {
		return nil
	}
	var services []string
	for _, c := range list {
		if c.Service != "" && !slices.Contains(services, c.Service) {
			services = append(services, c.Service)
		}
		if !board.needsInspect(c.ID, c.State) {
			continue
		}
		token := board.InspectToken(c.ID)
		info, err := docker.InspectContainer(ctx, c.ID)
		if err != nil {
			continue
		}
		board.ReconcileAt(info, token)
	}
	slices.Sort(services)
	return services
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
