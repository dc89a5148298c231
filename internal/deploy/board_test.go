package deploy

import (
	"strings"
	"testing"
	"time"

	"github.com/carto-setup/carto-setup/internal/engine"
	"github.com/carto-setup/carto-setup/internal/logstream"
	"github.com/carto-setup/carto-setup/internal/redact"
	"github.com/google/go-cmp/cmp"
)

var t0 = time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)

// step is one input to the board: an event, a listing or an inspection.
type step struct {
	ev      *logstream.StateChange
	inspect *engine.ContainerInfo
}

func ev(id, service, action string, sec float64, code int) step {
	return step{ev: &logstream.StateChange{ID: id, Name: "p-" + service + "-1", Service: service, Action: action,
		ExitCode: code, Time: t0.Add(time.Duration(sec * float64(time.Second)))}}
}

func listed(id, service, state string) step {
	return step{ev: &logstream.StateChange{ID: id, Name: "p-" + service + "-1", Service: service, Action: "list", State: state}}
}

func inspected(id, service, state string, code int, startedSec float64) step {
	return step{inspect: &engine.ContainerInfo{ID: id, Name: "p-" + service + "-1", Service: service, State: state,
		Running: state == StateRunning, ExitCode: code, StartedAt: t0.Add(time.Duration(startedSec * float64(time.Second)))}}
}

func TestBoardExpected(t *testing.T) {
	tests := []struct {
		name       string
		service    string
		steps      []step
		now        float64 // seconds after t0
		want       Verdict
		wantReason string
		restarts   int
	}{
		{"migrations exit 0", MigrationsService, []step{
			ev("m", MigrationsService, "create", 0, 0), ev("m", MigrationsService, "start", 1, 0),
			ev("m", MigrationsService, "die", 3, 0), inspected("m", MigrationsService, StateExited, 0, 1),
		}, 10, OK, "exited with code 0", 0},
		{"migrations exit 0 not yet confirmed", MigrationsService, []step{
			ev("m", MigrationsService, "start", 1, 0), ev("m", MigrationsService, "die", 3, 0),
		}, 10, Pending, "confirming", 0},
		{"migrations exit 0 after two failures", MigrationsService, []step{
			ev("m", MigrationsService, "start", 1, 0), ev("m", MigrationsService, "die", 2, 1),
			ev("m", MigrationsService, "start", 2.1, 0), ev("m", MigrationsService, "die", 3, 1),
			ev("m", MigrationsService, "start", 3.3, 0), ev("m", MigrationsService, "die", 4, 0),
			listed("m", MigrationsService, StateExited),
		}, 10, OK, "exited with code 0 after 2 restarts", 2},
		{"migrations exit 1, will restart", MigrationsService, []step{
			ev("m", MigrationsService, "start", 1, 0), ev("m", MigrationsService, "die", 2, 1),
			inspected("m", MigrationsService, StateRestarting, 1, 1),
		}, 10, Pending, "restarting after exit code 1", 0},
		{"migrations exit 1, not restarted", MigrationsService, []step{
			ev("m", MigrationsService, "start", 1, 0), ev("m", MigrationsService, "die", 2, 1),
			inspected("m", MigrationsService, StateExited, 1, 1),
		}, 10, Failed, "exited with code 1", 0},
		{"migrations exit 1 waiting for the verdict", MigrationsService, []step{
			ev("m", MigrationsService, "start", 1, 0), ev("m", MigrationsService, "die", 2, 1),
		}, 10, Pending, "waiting to see whether Docker restarts it", 0},
		{"migrations restart loop", MigrationsService, []step{
			ev("m", MigrationsService, "start", 1, 0), ev("m", MigrationsService, "die", 2, 1),
			ev("m", MigrationsService, "start", 2.1, 0), ev("m", MigrationsService, "die", 3, 1),
			ev("m", MigrationsService, "start", 3.3, 0), ev("m", MigrationsService, "die", 4, 1),
		}, 25, Failed, "restart loop: failed 3 times, last with exit code 1", 2},
		{"migrations restart loop within the grace", MigrationsService, []step{
			ev("m", MigrationsService, "start", 1, 0), ev("m", MigrationsService, "die", 2, 1),
			ev("m", MigrationsService, "start", 2.1, 0), ev("m", MigrationsService, "die", 3, 1),
			ev("m", MigrationsService, "start", 3.3, 0), ev("m", MigrationsService, "die", 4, 1),
			ev("m", MigrationsService, "start", 4.9, 0),
		}, 10, Pending, "restarting (3 restarts so far)", 3},
		{"migrations given up by Docker within the grace", MigrationsService, []step{
			ev("m", MigrationsService, "start", 1, 0), ev("m", MigrationsService, "die", 2, 1),
			ev("m", MigrationsService, "start", 2.1, 0), ev("m", MigrationsService, "die", 3, 1),
			ev("m", MigrationsService, "start", 3.3, 0), ev("m", MigrationsService, "die", 4, 1),
			inspected("m", MigrationsService, StateExited, 1, 3.3),
		}, 10, Failed, "exited with code 1 after 2 restarts", 2},
		{"api running", "workspace-api", []step{
			ev("a", "workspace-api", "create", 0, 0), ev("a", "workspace-api", "start", 1, 0),
		}, 10, OK, "running", 0},
		{"api running too briefly", "workspace-api", []step{
			ev("a", "workspace-api", "start", 8, 0),
		}, 10, Pending, "running for less than 5s", 0},
		{"api restart loop while running", "workspace-api", []step{
			ev("a", "workspace-api", "start", 1, 0), ev("a", "workspace-api", "die", 1.5, 2),
			ev("a", "workspace-api", "start", 1.7, 0), ev("a", "workspace-api", "die", 2, 2),
			ev("a", "workspace-api", "start", 2.4, 0), ev("a", "workspace-api", "die", 3, 2),
			ev("a", "workspace-api", "start", 3.8, 0),
		}, 25, Failed, "restart loop: restarted 3 times, last exit code 2", 3},
		{"api exited for good", "workspace-api", []step{
			ev("a", "workspace-api", "start", 1, 0), ev("a", "workspace-api", "die", 2, 0),
			listed("a", "workspace-api", StateExited),
		}, 10, Failed, "exited with code 0 but should keep running", 0},
		{"api only created", "workspace-api", []step{ev("a", "workspace-api", "create", 1, 0)}, 10, Pending, "created", 0},
		{"no container", "workspace-api", nil, 10, Pending, "no container yet", 0},
		{"inspection of the same start is not a restart", "workspace-api", []step{
			inspected("a", "workspace-api", StateRunning, 0, 1), ev("a", "workspace-api", "start", 1.001, 0),
		}, 10, OK, "running", 0},
		{"recreated container replaces the old one", "workspace-api", []step{
			ev("old", "workspace-api", "start", 1, 0), ev("new", "workspace-api", "create", 2, 0),
			ev("new", "workspace-api", "start", 2.5, 0), ev("old", "workspace-api", "die", 3, 137),
			ev("old", "workspace-api", "destroy", 3.1, 0),
		}, 10, OK, "running", 0},
		{"unhealthy", "workspace-api", []step{
			ev("a", "workspace-api", "start", 1, 0), ev("a", "workspace-api", "health_status: unhealthy", 5, 0),
		}, 10, Failed, "unhealthy", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			now := t0.Add(time.Duration(tc.now * float64(time.Second)))
			b := NewBoard(BoardConfig{Settle: 5 * time.Second, Now: func() time.Time { return now }})
			for _, s := range tc.steps {
				if s.ev != nil {
					b.Observe(*s.ev)
				} else {
					b.Reconcile(*s.inspect)
				}
			}
			exp := b.Expected([]string{tc.service}, nil)
			if len(exp) != 1 {
				t.Fatalf("Expected returned %d results", len(exp))
			}
			e := exp[0]
			if e.Verdict != tc.want || !strings.Contains(e.Reason, tc.wantReason) {
				t.Errorf("verdict %s (%s), want %s (%s)", e.Verdict, e.Reason, tc.want, tc.wantReason)
			}
			if e.Status.Restarts != tc.restarts {
				t.Errorf("restarts %d, want %d", e.Status.Restarts, tc.restarts)
			}
		})
	}
}

func TestBoardScaledToZeroNotExpected(t *testing.T) {
	b := NewBoard(BoardConfig{Now: func() time.Time { return t0.Add(time.Minute) }})
	b.Observe(*ev("a", "workspace-api", "start", 1, 0).ev)
	exp := b.Expected([]string{"workspace-api", "workspace-postgres", "valkey"}, map[string]int{"workspace-postgres": 0, "valkey": 1})
	var got []string
	for _, e := range exp {
		got = append(got, e.Service+"="+string(e.Verdict))
	}
	if diff := cmp.Diff([]string{"workspace-api=ok", "valkey=pending"}, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestBoardSnapshotAndFailing(t *testing.T) {
	b := NewBoard(BoardConfig{Now: func() time.Time { return t0.Add(time.Minute) }})
	for _, s := range []step{
		ev("m", MigrationsService, "start", 1, 0), ev("m", MigrationsService, "die", 2, 1),
		inspected("m", MigrationsService, StateExited, 1, 1),
		ev("a", "workspace-api", "start", 1, 0), ev("a", "workspace-api", "health_status: healthy", 2, 0),
	} {
		if s.ev != nil {
			b.Observe(*s.ev)
		} else {
			b.Reconcile(*s.inspect)
		}
	}
	snap := b.Snapshot()
	want := []ServiceStatus{
		{Service: "workspace-api", Container: "p-workspace-api-1", ID: "a", State: StateRunning, Health: "healthy", StartedAt: t0.Add(time.Second)},
		{Service: MigrationsService, Container: "p-workspace-migrations-1", ID: "m", State: StateExited, ExitCode: 1, Exited: true,
			Deaths: 1, StartedAt: t0.Add(time.Second), Settled: true},
	}
	if diff := cmp.Diff(want, snap); diff != "" {
		t.Errorf("Snapshot (-want +got):\n%s", diff)
	}

	hub := logstream.NewHub(logstream.HubConfig{})
	for i := range 30 {
		hub.Append(logstream.Line{Container: "p-workspace-migrations-1", Text: "line " + string(rune('a'+i%26)) + " password=S3cr3t-value"})
	}
	hub.Append(logstream.Line{Container: "p-workspace-api-1", Text: "api line"})
	exp := b.Expected([]string{"workspace-api", MigrationsService}, nil)
	f := b.Failing(exp, hub, redact.New(redact.Values("S3cr3t-value")), 5)
	if len(f) != 1 || f[0].Service != MigrationsService {
		t.Fatalf("Failing = %+v, want workspace-migrations only", f)
	}
	if len(f[0].Lines) != 5 || f[0].Lines[4] != "line d password=****" {
		t.Errorf("last lines %q, want 5 masked lines ending with line d", f[0].Lines)
	}
	if !strings.Contains(f[0].Hint, "database credentials") {
		t.Errorf("hint %q does not mention the database credentials", f[0].Hint)
	}
}

// TestBoardLateEventsUnderLoad: on a busy host the daemon stamps the start
// event well after the StartedAt an inspection reports. The inspection of
// a migrations container that exited 0 must still settle it.
func TestBoardLateEventsUnderLoad(t *testing.T) {
	b := NewBoard(BoardConfig{Now: func() time.Time { return t0.Add(time.Minute) }})
	b.Observe(*ev("m", MigrationsService, "start", 1.8, 0).ev) // event stamped 800 ms late
	b.Observe(*ev("m", MigrationsService, "die", 2.5, 0).ev)
	tok := b.InspectToken("m")
	b.ReconcileAt(*inspected("m", MigrationsService, StateExited, 0, 1).inspect, tok)
	if e := b.Expected([]string{MigrationsService}, nil)[0]; e.Verdict != OK {
		t.Fatalf("verdict %s (%s), want ok", e.Verdict, e.Reason)
	}
}

// TestBoardDropsInspectionOvertakenByAStart: an inspection requested before
// a restart's start event is not allowed to put the old exit back.
func TestBoardDropsInspectionOvertakenByAStart(t *testing.T) {
	b := NewBoard(BoardConfig{Now: func() time.Time { return t0.Add(time.Minute) }})
	b.Observe(*ev("m", MigrationsService, "start", 1, 0).ev)
	b.Observe(*ev("m", MigrationsService, "die", 2, 1).ev)
	tok := b.InspectToken("m")
	b.Observe(*ev("m", MigrationsService, "start", 3, 0).ev) // restarted meanwhile
	b.ReconcileAt(*inspected("m", MigrationsService, StateExited, 1, 1).inspect, tok)
	if s := b.Snapshot()[0]; s.State != StateRunning || s.Settled {
		t.Fatalf("stale inspection applied: %+v", s)
	}
}
