package steps

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/carto-setup/carto-setup/internal/check"
	"github.com/carto-setup/carto-setup/internal/deploy"
	"github.com/carto-setup/carto-setup/internal/engine"
	"github.com/carto-setup/carto-setup/internal/images"
	"github.com/carto-setup/carto-setup/internal/registrycheck"
	"github.com/carto-setup/carto-setup/internal/wizard"
)

// RegistryChecker checks, before anything is installed, that every image
// of the release is present or can be pulled (registrycheck.Run): the
// preflight step's registry group.
type RegistryChecker interface {
	Check(ctx context.Context, refs []string) []check.Result
}

// RegistryFunc adapts a function to RegistryChecker.
type RegistryFunc func(ctx context.Context, refs []string) []check.Result

// Check calls f.
func (f RegistryFunc) Check(ctx context.Context, refs []string) []check.Result {
	return f(ctx, refs)
}

// PlannedImages returns the images an install of st pulls, sorted, each
// once: those of the plan's .env when st plans (the package is uploaded),
// else those of the .env install.sh would make of the release's env.tpl
// and VERSION with the package's customer.env or none. The image names
// come from env.tpl, so the two agree unless a release builds a name from
// a customer variable.
func PlannedImages(st wizard.State, releaseDir string) ([]string, error) {
	if plan, err := deploy.NewPlan(st, releaseDir); err == nil {
		return PlanImages(plan), nil
	}
	list, err := images.ListRelease(releaseDir, []byte(st.Package.CustomerEnv))
	if err != nil {
		return nil, err
	}
	return images.Refs(list), nil
}

// PlanImages returns the images a plan's services run, sorted, each once.
func PlanImages(plan deploy.Plan) []string {
	return slices.Compact(slices.Sorted(maps.Values(plan.Images())))
}

// registryResults runs the registry group of preflight on the images the
// install of st would pull; none when no registry checker is wired.
func (s *Steps) registryResults(ctx context.Context, st wizard.State) []check.Result {
	if s.d.Registry == nil {
		return nil
	}
	refs, err := PlannedImages(st, s.d.ReleaseDir)
	if err != nil {
		return []check.Result{{Step: registrycheck.Step, ID: registrycheck.IDImages, Status: check.Error,
			Measured: "the release's images cannot be listed", Required: "every image of the release, present or in its registry",
			Message: "carto-setup could not tell which images the release needs: " + sentence(err),
			Hint:    "Fix the release files check first (docker-compose.yml, env.tpl and VERSION of one release tag)."}}
	}
	return s.d.Registry.Check(ctx, refs)
}

// sentence turns an error into a sentence for a message.
func sentence(err error) string {
	s := err.Error()
	if s == "" {
		return s
	}
	s = strings.ToUpper(s[:1]) + s[1:]
	if !strings.HasSuffix(s, ".") {
		s += "."
	}
	return s
}

// ImagesConfig is how an install makes sure of its images: the pull phase,
// which runs before Compose and before anything is written.
type ImagesConfig struct {
	// Remote asks registries what Docker will ask them (credentials,
	// manifests for the sizes, the probe that names an unreachable
	// registry); nil means Docker's credentials.
	Remote *images.Remote
	// Stall is how long the phase waits with no byte moving before it
	// stops and names the cause; 0 means the images package's default.
	Stall time.Duration
	// Interval is how often a pulling image's progress is reported; 0
	// means the images package's default.
	Interval time.Duration
	// Prepare, when set, runs first with the planned images: the
	// stand-in's local build, when the release names its images locally.
	Prepare func(ctx context.Context, plan deploy.Plan, refs []string, progress io.Writer) error
}

// ImagesBoard is the pull phase of one install as the board shows it: the
// latest progress of every image, in the order they were first reported.
type ImagesBoard struct {
	mu    sync.Mutex
	order []string
	rows  map[string]images.Progress
}

// Observe records a report.
func (b *ImagesBoard) Observe(p images.Progress) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.rows == nil {
		b.rows = map[string]images.Progress{}
	}
	if _, ok := b.rows[p.Image]; !ok {
		b.order = append(b.order, p.Image)
	}
	b.rows[p.Image] = p
}

// Snapshot returns the images in the order they were first reported; nil
// before the phase began.
func (b *ImagesBoard) Snapshot() []images.Progress {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []images.Progress
	for _, ref := range b.order {
		out = append(out, b.rows[ref])
	}
	return out
}

// EnsureImagesHook is the pull phase as deploy's EnsureImages hook for a
// flow that keeps no images board of its own (an upgrade shows old and new
// images per service instead); nil when c is nil, which leaves the pulls
// to Compose.
func EnsureImagesHook(c *ImagesConfig, events io.Writer) func(ctx context.Context, plan deploy.Plan, progress io.Writer) error {
	if c == nil {
		return nil
	}
	return pullPhase(*c, &ImagesBoard{}, events)
}

// pullPhase is the EnsureImages hook of one install: it pulls the images
// the plan names, reporting to the board, the job log and, when events is
// not nil, as JSON lines (apply --json).
func pullPhase(c ImagesConfig, board *ImagesBoard, events io.Writer) func(ctx context.Context, plan deploy.Plan, progress io.Writer) error {
	return func(ctx context.Context, plan deploy.Plan, progress io.Writer) error {
		refs := PlanImages(plan)
		if len(refs) == 0 {
			return nil
		}
		if c.Prepare != nil {
			if err := c.Prepare(ctx, plan, refs, progress); err != nil {
				return err
			}
		}
		eng, err := engine.New(ctx)
		if err != nil {
			return &deploy.Error{Step: "images", Message: "The Docker Engine is not reachable.",
				Hint: "Start Docker and check that this user may use its socket (the docker group).", Err: err}
		}
		defer eng.Close()
		_, err = PullImages(ctx, eng, refs, c, board, progress, events)
		return pullError(err)
	}
}

// PullImages runs the pull phase for refs (images.Pull): the board, when
// not nil, gets every report; progress gets a line per change and a
// summary of each pulling image now and then; events, when not nil, gets
// every report as a JSON line. The install runs it before anything is
// written; `images save` runs it before saving.
func PullImages(ctx context.Context, eng images.Engine, refs []string, c ImagesConfig, board *ImagesBoard, progress, events io.Writer) ([]images.Progress, error) {
	if board == nil {
		board = &ImagesBoard{}
	}
	fmt.Fprintf(progress, "Making sure of the release's %d images: %s\n", len(refs), strings.Join(refs, ", "))
	rep := &pullReporter{board: board, out: progress, events: events, last: map[string]images.Progress{}, logged: map[string]time.Time{}}
	final, err := images.Pull(ctx, eng, refs, images.Config{Remote: c.Remote, Stall: c.Stall, Interval: c.Interval, OnProgress: rep.observe})
	rep.done(final)
	return final, err
}

// pullError turns a failed pull phase into the install's error: the first
// failure's message and fix, naming every failed image.
func pullError(err error) error {
	if err == nil {
		return nil
	}
	var pe *images.Error
	if errors.As(err, &pe) && len(pe.Failures) > 0 {
		f := pe.Failures[0]
		msg := f.Message
		if n := len(pe.Failures); n > 1 {
			var names []string
			for _, f := range pe.Failures {
				names = append(names, f.Image)
			}
			msg = fmt.Sprintf("%d images could not be pulled (%s). %s", n, strings.Join(names, ", "), f.Message)
		}
		return &deploy.Error{Step: "images", Message: msg, Hint: f.Hint, Err: err}
	}
	return &deploy.Error{Step: "images", Message: "The release's images could not be pulled: " + sentence(err),
		Hint: "Check that Docker is running and that this user may use it.", Err: err}
}

// summaryEvery is how often the job log gets a line per pulling image;
// the board and the JSON lines get every report.
const summaryEvery = 5 * time.Second

// pullReporter fans the pull phase's reports out. images.Pull calls
// observe from one goroutine at a time.
type pullReporter struct {
	board  *ImagesBoard
	out    io.Writer
	events io.Writer
	last   map[string]images.Progress
	logged map[string]time.Time
}

// imageEvent is one JSON line of apply --json: the progress of one image
// ("image"), or the phase's total once it ends ("images_done").
type imageEvent struct {
	Event string `json:"event"`
	*images.Progress
	Overall *images.Progress  `json:"overall,omitempty"`
	Images  []images.Progress `json:"images,omitempty"`
}

func (r *pullReporter) emit(ev imageEvent) {
	if r.events == nil {
		return
	}
	b, err := json.Marshal(ev)
	if err != nil {
		return
	}
	r.events.Write(append(b, '\n'))
}

func (r *pullReporter) observe(p images.Progress) {
	r.board.Observe(p)
	r.emit(imageEvent{Event: "image", Progress: &p})
	prev, seen := r.last[p.Image]
	r.last[p.Image] = p
	now := time.Now()
	if seen && prev.Status == p.Status {
		if p.Status == images.Pulling && now.Sub(r.logged[p.Image]) >= summaryEvery {
			r.logged[p.Image] = now
			fmt.Fprintf(r.out, "%s: %s\n", p.Image, p.Summary())
		}
		return
	}
	r.logged[p.Image] = now
	switch p.Status {
	case images.Present:
		fmt.Fprintf(r.out, "%s is present; not pulled.\n", p.Image)
	case images.Pulling:
		line := "Pulling " + p.Image
		if p.SizeKnown {
			line += fmt.Sprintf(" (%d layers, %s)", p.LayersTotal, images.FormatBytes(p.BytesTotal))
		}
		fmt.Fprintln(r.out, line+".")
	case images.Done:
		fmt.Fprintf(r.out, "Pulled %s (%s).\n", p.Image, images.FormatBytes(p.BytesTotal))
	case images.Failed:
		if f := p.Failure; f != nil {
			fmt.Fprintf(r.out, "Could not pull %s: %s %s\n", p.Image, f.Message, f.Hint)
		}
	case images.Skipped:
		fmt.Fprintf(r.out, "Not pulling %s: the failure above would stop it too.\n", p.Image)
	}
}

func (r *pullReporter) done(final []images.Progress) {
	if final == nil {
		return
	}
	o := images.Overall(final)
	r.emit(imageEvent{Event: "images_done", Overall: &o, Images: final})
	if o.Status == images.Done {
		fmt.Fprintf(r.out, "Every image of the release is present (%s pulled).\n", images.FormatBytes(o.BytesDone))
	}
}
