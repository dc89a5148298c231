package deploy

import (
	"context"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/carto-setup/carto-setup/internal/engine"
	"github.com/carto-setup/carto-setup/internal/logstream"
	"github.com/carto-setup/carto-setup/internal/testenv"
)

// loggingDocker is fakeDocker whose containers each write one line (with
// the database admin password in it), which sends the events the test
// gives it and counts the log streams opened; it tells the project
// follower each container's generation.
type loggingDocker struct {
	*fakeDocker
	streams atomic.Int32
	events  chan engine.ContainerEvent
}

func (d *loggingDocker) ContainerEvents(ctx context.Context, _ string, _ time.Time) (<-chan engine.ContainerEvent, <-chan error) {
	errs := make(chan error, 1)
	go func() { <-ctx.Done(); errs <- ctx.Err() }()
	return d.events, errs
}

// FollowLogs writes the container's line and then follows it, as the
// daemon does for a running container, until ctx ends.
func (d *loggingDocker) FollowLogs(ctx context.Context, id string, _ time.Time) (io.ReadCloser, error) {
	d.streams.Add(1)
	pr, pw := io.Pipe()
	go func() {
		io.WriteString(pw, time.Now().UTC().Format(time.RFC3339Nano)+" hello from "+id+" password "+adminPW+"\n")
		<-ctx.Done()
		pw.CloseWithError(ctx.Err())
	}()
	return pr, nil
}

func (d *loggingDocker) ContainerGeneration(ctx context.Context, id string) (engine.ContainerGeneration, error) {
	c, err := d.InspectContainer(ctx, id)
	return engine.ContainerGeneration{ID: c.ID, Name: c.Name, Service: c.Service, Number: 1, Running: c.Running, StartedAt: c.StartedAt}, err
}

// TestRunWithProjectFollower runs an install with the wizard's project
// follower: the install opens no daemon stream of its own (one per
// container in all), its job hub still gets the containers' lines,
// masked with the plan's secrets, and every service's timeline gets the
// install marker with the release version.
func TestRunWithProjectFollower(t *testing.T) {
	t.Parallel()
	st := baseState(t)
	externalDB(&st)
	p, err := NewPlan(st, newRelease(t))
	if err != nil {
		t.Fatal(err)
	}
	d := &loggingDocker{fakeDocker: &fakeDocker{}, events: make(chan engine.ContainerEvent, 100)}
	pf := logstream.NewProjectFollower(logstream.ProjectConfig{Project: "p", Docker: d, MinBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- pf.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()

	job := logstream.NewHub(logstream.HubConfig{})
	var out testenv.Buffer
	running := 0
	up := func(io.Writer) error {
		s := stack(p, 0)
		d.set(s...)
		for _, c := range s {
			if c.Running {
				running++
				d.events <- engine.ContainerEvent{ID: c.ID, Name: c.Name, Service: c.Service, Action: "start", Time: time.Now()}
			}
		}
		// Compose returns once the containers have written their line.
		testenv.WaitFor(t, "every container's line", 10*time.Second, func() bool {
			n := 0
			for _, l := range pf.Hub().Poll(nil, 1000).Lines {
				if strings.HasPrefix(l.Text, "hello from") {
					n++
				}
			}
			return n == running
		})
		return nil
	}
	err = Run(context.Background(), Deps{Compose: fakeCompose{up: up}, Docker: d},
		RunConfig{Plan: p, Project: "p", Expect: 5 * time.Second, Poll: 20 * time.Millisecond, Board: NewBoard(BoardConfig{Settle: -1}),
			Hub: job, Logs: pf}, &out)
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, out.String())
	}
	marker := "install of CARTO " + p.Version() + " started"
	lines := pf.Hub().Poll(nil, 1000).Lines
	if len(lines) == 0 || lines[0].Marker != logstream.MarkInstall || lines[0].Text != marker {
		t.Fatalf("the project's first line is %+v, want the marker %q", lines, marker)
	}
	var jobText strings.Builder
	for _, l := range job.Poll(nil, 1000).Lines {
		jobText.WriteString(l.Text + "\n")
	}
	if !strings.Contains(jobText.String(), marker) || !strings.Contains(jobText.String(), "hello from id-router-http password ****") {
		t.Errorf("the job hub lacks the marker or the containers' lines, masked:\n%s", jobText.String())
	}
	if strings.Contains(jobText.String(), adminPW) || strings.Contains(out.String(), adminPW) {
		t.Error("the admin password shows in the job's log")
	}
	if n := int(d.streams.Load()); n > running {
		t.Errorf("%d daemon log streams for %d running containers", n, running)
	}
}
