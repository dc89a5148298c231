package jobs

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/carto-setup/carto-setup/internal/atomicfile"
)

// Status is where a job is.
type Status string

// The states of a job. Interrupted means the wizard stopped while the job
// ran: its outcome is unknown and the admin may run it again.
const (
	Running     Status = "running"
	Succeeded   Status = "succeeded"
	Failed      Status = "failed"
	Interrupted Status = "interrupted"
)

// Record is what is kept about a job.
type Record struct {
	ID      string    `json:"id"`
	Kind    string    `json:"kind"`
	Status  Status    `json:"status"`
	Started time.Time `json:"started"`
	Ended   time.Time `json:"ended,omitzero"`
	// Error is a message safe to show: jobs return errors whose text is
	// meant for the admin (see Func).
	Error string `json:"error,omitempty"`
}

// Done reports whether the job has finished one way or another.
func (r Record) Done() bool { return r.Status != Running }

// Func is the work of a job. It runs with a context that outlives the
// request that started it and is cancelled only when the wizard stops. The
// text of the error it returns is shown to the admin.
type Func func(ctx context.Context, id string) error

// ErrBusy is returned by Start while a job of the same kind runs.
var ErrBusy = errors.New("jobs: a job of this kind is already running")

// Runner starts jobs and keeps their records in dir (one JSON file each).
type Runner struct {
	dir string
	now func() time.Time
	ctx context.Context

	mu   sync.Mutex
	jobs map[string]*Record
	wg   sync.WaitGroup
}

// NewRunner loads the records in dir; a job recorded as running belonged to
// a wizard that stopped, so it is marked interrupted. Jobs run with ctx.
func NewRunner(ctx context.Context, dir string, now func() time.Time) (*Runner, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("jobs: %w", err)
	}
	r := &Runner{dir: dir, now: now, ctx: ctx, jobs: map[string]*Record{}}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("jobs: %w", err)
	}
	for _, e := range entries {
		if filepath.Ext(e.Name()) != ".json" {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("jobs: %w", err)
		}
		var rec Record
		if err := json.Unmarshal(b, &rec); err != nil || rec.ID == "" {
			continue // a damaged record is history we can live without
		}
		if rec.Status == Running {
			rec.Status, rec.Ended, rec.Error = Interrupted, now().UTC(), "carto-setup stopped while this ran; its outcome is unknown. Run it again."
			if err := r.save(&rec); err != nil {
				return nil, err
			}
		}
		r.jobs[rec.ID] = &rec
	}
	return r, nil
}

func (r *Runner) save(rec *Record) error {
	b, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return fmt.Errorf("jobs: encode: %w", err)
	}
	return atomicfile.WriteFile(filepath.Join(r.dir, rec.ID+".json"), b, 0o600)
}

// Start runs fn as a new job of the given kind in the background and
// returns its record at once, or ErrBusy.
func (r *Runner) Start(kind string, fn Func) (Record, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, j := range r.jobs {
		if j.Kind == kind && j.Status == Running {
			return *j, ErrBusy
		}
	}
	rec := &Record{ID: newID(r.now()), Kind: kind, Status: Running, Started: r.now().UTC()}
	if err := r.save(rec); err != nil {
		return Record{}, err
	}
	r.jobs[rec.ID] = rec
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		err := fn(r.ctx, rec.ID)
		r.mu.Lock()
		defer r.mu.Unlock()
		rec.Ended = r.now().UTC()
		switch {
		case err == nil:
			rec.Status = Succeeded
		case r.ctx.Err() != nil:
			rec.Status, rec.Error = Interrupted, "carto-setup stopped while this ran. Run it again."
		default:
			rec.Status, rec.Error = Failed, err.Error()
		}
		r.save(rec) // best effort: the in-memory record is the truth while we run
	}()
	return *rec, nil
}

// Get returns the record of a job.
func (r *Runner) Get(id string) (Record, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	j, ok := r.jobs[id]
	if !ok {
		return Record{}, false
	}
	return *j, true
}

// Latest returns the most recent job of a kind.
func (r *Runner) Latest(kind string) (Record, bool) {
	all := r.List(kind)
	if len(all) == 0 {
		return Record{}, false
	}
	return all[0], true
}

// List returns the jobs of a kind, newest first.
func (r *Runner) List(kind string) []Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Record
	for _, j := range r.jobs {
		if j.Kind == kind {
			out = append(out, *j)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Started.After(out[j].Started) })
	return out
}

// Wait blocks until every running job has returned; the wizard calls it on
// shutdown after cancelling the jobs' context.
func (r *Runner) Wait() { r.wg.Wait() }

// newID is sortable by time and unguessable.
func newID(now time.Time) string {
	b := make([]byte, 4)
	rand.Read(b)
	return fmt.Sprintf("%s-%x", now.UTC().Format("20060102T150405"), b)
}
