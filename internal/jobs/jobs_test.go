package jobs

import (
	"context"
	"errors"
	"testing"
	"time"
)

func waitDone(t *testing.T, r *Runner, id string) Record {
	t.Helper()
	for range 500 {
		if rec, _ := r.Get(id); rec.Done() {
			return rec
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatal("job did not finish")
	return Record{}
}

func TestRunnerLifecycle(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r, err := NewRunner(ctx, dir, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	rec, err := r.Start("install", func(ctx context.Context, id string) error { <-release; return nil })
	if err != nil || rec.Status != Running {
		t.Fatalf("start: %+v %v", rec, err)
	}
	if _, err := r.Start("install", func(context.Context, string) error { return nil }); !errors.Is(err, ErrBusy) {
		t.Fatalf("second install while one runs: %v, want ErrBusy", err)
	}
	close(release)
	if got := waitDone(t, r, rec.ID); got.Status != Succeeded {
		t.Fatalf("status %s", got.Status)
	}
	rec2, _ := r.Start("install", func(context.Context, string) error { return errors.New("router-http failed to start") })
	if got := waitDone(t, r, rec2.ID); got.Status != Failed || got.Error != "router-http failed to start" {
		t.Fatalf("failed job: %+v", got)
	}
	if l, _ := r.Latest("install"); l.ID != rec2.ID {
		t.Fatalf("latest = %s, want %s", l.ID, rec2.ID)
	}

	// A restarted wizard sees the history.
	r2, err := NewRunner(ctx, dir, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	if len(r2.List("install")) != 2 {
		t.Fatalf("history after restart: %v", r2.List("install"))
	}
}

func TestRunningJobBecomesInterruptedAfterRestart(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	r, _ := NewRunner(ctx, dir, time.Now)
	started := make(chan struct{})
	rec, _ := r.Start("install", func(ctx context.Context, id string) error { close(started); <-ctx.Done(); return ctx.Err() })
	<-started
	// Simulate a crash: the record on disk says running. A new runner,
	// as after a restart, must not believe it.
	r2, err := NewRunner(context.Background(), dir, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := r2.Get(rec.ID)
	if got.Status != Interrupted || got.Error == "" {
		t.Fatalf("after restart: %+v", got)
	}
	cancel()
	r.Wait()
	if got, _ := r.Get(rec.ID); got.Status != Interrupted {
		t.Fatalf("cancelled job: %s", got.Status)
	}
}
