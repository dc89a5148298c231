package deploy

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/carto-setup/carto-setup/internal/engine"
	"github.com/carto-setup/carto-setup/internal/logstream"
	"github.com/carto-setup/carto-setup/internal/redact"
)

// Container states as the daemon names them.
const (
	StateCreated    = "created"
	StateRunning    = "running"
	StateExited     = "exited"
	StateRestarting = "restarting"
	StatePaused     = "paused"
)

// MigrationsService is CARTO's one-shot service: it bootstraps and migrates
// the metadata database and is expected to exit 0.
const MigrationsService = "workspace-migrations"

// ServiceStatus is what the board shows of one service: its current
// container (the newest one Compose created for it).
type ServiceStatus struct {
	Service   string
	Container string // container name
	ID        string
	State     string // created, running, exited, restarting, paused
	ExitCode  int    // of the last exit; meaningful when Exited is true
	Exited    bool   // the container has exited at least once
	Restarts  int    // starts after the first one
	Deaths    int    // die events
	Health    string // healthy, unhealthy, starting, or "" without a healthcheck
	StartedAt time.Time
	// Settled says the state is known not to be a passing moment: an
	// exited container that the daemon will not restart.
	Settled bool
}

// BoardConfig holds the rules the board judges services by.
type BoardConfig struct {
	// RestartLimit is the number of restarts (or deaths) from which a
	// service counts as in a restart loop; 0 means 3.
	RestartLimit int
	// Settle is how long a long-running service must have run to count
	// as up, so that a service that crashes a moment after it starts is
	// not taken for a success; 0 means DefaultSettle, a negative value
	// counts a service as up as soon as it runs.
	Settle time.Duration
	// LoopGrace is how long after its first start a service may keep
	// restarting before a restart loop counts as a failure: CARTO's
	// workspace-migrations retries on failure while the embedded database
	// is still initialising. 0 means DefaultLoopGrace, a negative value
	// none. An exit the daemon will not retry fails at once regardless.
	LoopGrace time.Duration
	// OneShot lists the services expected to exit 0; nil means
	// workspace-migrations.
	OneShot []string
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// Board tracks the state of a Compose project's containers, fed by the log
// follower's state changes and by inspections. It is safe for concurrent
// use.
type Board struct {
	cfg BoardConfig

	mu    sync.Mutex
	conts map[string]*boardContainer // by container ID
	order uint64
}

type boardContainer struct {
	ServiceStatus
	order     uint64
	destroyed bool
	started   bool      // a start was seen, by event or inspection
	first     time.Time // the first start seen
	starts    uint64    // start events seen, to tell a stale inspection
}

// startSlack is how far apart an event's time and the daemon's StartedAt
// of the same start may be: the event is stamped a little after the state
// changes. Restarts under a restart policy are at least 100 ms apart.
const startSlack = 50 * time.Millisecond

func sameInstant(a, b time.Time) bool {
	d := a.Sub(b)
	return d < startSlack && d > -startSlack
}

// DefaultSettle is how long a service must have run to count as up when
// BoardConfig.Settle is 0.
const DefaultSettle = 5 * time.Second

// DefaultLoopGrace is BoardConfig.LoopGrace when it is 0.
const DefaultLoopGrace = 20 * time.Second

// NewBoard returns an empty board.
func NewBoard(cfg BoardConfig) *Board {
	if cfg.Settle == 0 {
		cfg.Settle = DefaultSettle
	}
	if cfg.LoopGrace == 0 {
		cfg.LoopGrace = DefaultLoopGrace
	}
	if cfg.RestartLimit <= 0 {
		cfg.RestartLimit = 3
	}
	if cfg.OneShot == nil {
		cfg.OneShot = []string{MigrationsService}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Board{cfg: cfg, conts: map[string]*boardContainer{}}
}

// container returns the entry of id, creating it.
func (b *Board) container(id, name, service string) *boardContainer {
	c := b.conts[id]
	if c == nil {
		b.order++
		c = &boardContainer{order: b.order, ServiceStatus: ServiceStatus{ID: id, State: StateCreated}}
		b.conts[id] = c
	}
	if name != "" {
		c.Container = name
	}
	if service != "" {
		c.Service = service
	}
	if c.Service == "" {
		c.Service = c.Container
	}
	return c
}

// Observe records a container event or a listed container. It is meant to
// be the log follower's OnState.
func (b *Board) Observe(s logstream.StateChange) {
	if s.ID == "" {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	c := b.container(s.ID, s.Name, s.Service)
	switch action := s.Action; {
	case action == "list":
		if s.State != "" {
			c.State = s.State
			c.Settled = s.State == StateExited
		}
	case action == "create":
		c.State = StateCreated
	case action == "start":
		// An inspection may have recorded this very start already.
		same := !c.StartedAt.IsZero() && !s.Time.IsZero() && sameInstant(s.Time, c.StartedAt)
		if !same && (c.started || c.Deaths > 0) {
			c.Restarts++
		}
		c.started = true
		c.starts++
		c.State, c.Settled = StateRunning, false
		if !same || c.StartedAt.IsZero() {
			c.StartedAt = s.Time
		}
		if c.first.IsZero() {
			c.first = c.StartedAt
		}
	case action == "die":
		c.Deaths++
		c.State, c.Exited, c.ExitCode = StateExited, true, s.ExitCode
		// The daemon decides on a restart before it reports the death;
		// an inspection tells which way it went.
		c.Settled = false
	case action == "pause":
		c.State = StatePaused
	case action == "unpause":
		c.State = StateRunning
	case action == "destroy":
		c.destroyed = true
	case strings.HasPrefix(action, "health_status"):
		c.Health = strings.TrimSpace(strings.TrimPrefix(strings.TrimPrefix(action, "health_status"), ":"))
	}
}

// InspectToken returns what ReconcileAt needs to tell whether a start
// event arrived while an inspection of the container was under way.
func (b *Board) InspectToken(id string) uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	if c := b.conts[id]; c != nil {
		return c.starts
	}
	return 0
}

// Reconcile records what an inspection of a container found, which is
// authoritative for its state, exit code and start time (but not for its
// restart count, which comes from events).
func (b *Board) Reconcile(info engine.ContainerInfo) {
	b.ReconcileAt(info, b.InspectToken(info.ID))
}

// ReconcileAt is Reconcile for an inspection requested when InspectToken
// returned token: if a start event has been seen since, the inspection may
// predate that start and is dropped (the next round inspects again). This
// compares event counts, not times: under load the daemon stamps events
// well after the StartedAt an inspection reports.
func (b *Board) ReconcileAt(info engine.ContainerInfo, token uint64) {
	if info.ID == "" {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	c := b.container(info.ID, info.Name, info.Service)
	if c.starts != token {
		return
	}
	if info.State != "" {
		c.State = info.State
	}
	if !info.StartedAt.IsZero() {
		c.StartedAt = info.StartedAt
		c.started = true
		if c.first.IsZero() {
			c.first = c.StartedAt
		}
	}
	switch info.State {
	case StateExited:
		c.Exited, c.ExitCode, c.Settled = true, info.ExitCode, true
	case StateRestarting:
		c.Exited, c.ExitCode, c.Settled = true, info.ExitCode, false
	default:
		c.Settled = false
	}
}

// needsInspect reports whether Run should inspect a listed container: it is
// unknown, not running, or its start time is missing.
func (b *Board) needsInspect(id, listedState string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	c := b.conts[id]
	return c == nil || listedState != StateRunning || c.State != StateRunning || c.StartedAt.IsZero()
}

// current returns the newest container of each service that still exists.
func (b *Board) current() map[string]*boardContainer {
	out := map[string]*boardContainer{}
	for _, c := range b.conts {
		if c.destroyed {
			continue
		}
		if o := out[c.Service]; o == nil || c.order > o.order {
			out[c.Service] = c
		}
	}
	return out
}

// Snapshot returns the status of every service's current container, sorted
// by service name.
func (b *Board) Snapshot() []ServiceStatus {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []ServiceStatus
	for _, c := range b.current() {
		out = append(out, c.ServiceStatus)
	}
	slices.SortFunc(out, func(x, y ServiceStatus) int { return strings.Compare(x.Service, y.Service) })
	return out
}

// Verdict is how a service stands against what is expected of it.
type Verdict string

// The three verdicts: the service is where it should be, not there yet, or
// failed (it will not get there without a fix).
const (
	OK      Verdict = "ok"
	Pending Verdict = "pending"
	Failed  Verdict = "failed"
)

// Expectation is one service's verdict with the reason in a sentence
// fragment ("exited with code 1 after 2 restarts").
type Expectation struct {
	Service string
	Verdict Verdict
	Reason  string
	Status  ServiceStatus
}

// Expected judges every service of services against what CARTO expects
// (carto-facts §4): the one-shot services exited 0, every other service
// running. A service whose scale is 0 in scales is not expected and left
// out. A service fails when it exited and the daemon will not restart it,
// or when it is in a restart loop (RestartLimit restarts or deaths); a
// one-shot service that finally exited 0 is fine whatever it took.
func (b *Board) Expected(services []string, scales map[string]int) []Expectation {
	b.mu.Lock()
	defer b.mu.Unlock()
	cur := b.current()
	now := b.cfg.Now()
	var out []Expectation
	for _, svc := range services {
		if n, ok := scales[svc]; ok && n == 0 {
			continue
		}
		c := cur[svc]
		e := Expectation{Service: svc}
		if c == nil {
			e.Verdict, e.Reason = Pending, "no container yet"
			out = append(out, e)
			continue
		}
		e.Status = c.ServiceStatus
		e.Verdict, e.Reason = b.judge(c, slices.Contains(b.cfg.OneShot, svc), now)
		out = append(out, e)
	}
	return out
}

func (b *Board) judge(c *boardContainer, oneShot bool, now time.Time) (Verdict, string) {
	s := c.ServiceStatus
	loop := s.Restarts >= b.cfg.RestartLimit || s.Deaths >= b.cfg.RestartLimit
	if loop && b.cfg.LoopGrace > 0 && (c.first.IsZero() || now.Sub(c.first) < b.cfg.LoopGrace) {
		if !(s.State == StateExited && s.Settled) {
			return Pending, fmt.Sprintf("restarting (%d restart%s so far)", s.Restarts, plural(s.Restarts))
		}
		loop = false
	}
	after := ""
	if s.Restarts > 0 {
		after = fmt.Sprintf(" after %d restart%s", s.Restarts, plural(s.Restarts))
	}
	if oneShot {
		switch {
		case s.State == StateExited && s.Exited && s.ExitCode == 0 && s.Settled:
			return OK, "exited with code 0" + after
		case s.State == StateExited && s.Exited && s.ExitCode == 0:
			return Pending, "exited with code 0; confirming"
		case s.Exited && s.ExitCode != 0 && loop:
			return Failed, fmt.Sprintf("in a restart loop: failed %d times, last with exit code %d", s.Deaths, s.ExitCode)
		case s.State == StateExited && s.Exited && s.Settled:
			return Failed, fmt.Sprintf("exited with code %d%s", s.ExitCode, after)
		}
		return Pending, describe(s)
	}
	switch {
	case loop:
		return Failed, fmt.Sprintf("in a restart loop: restarted %d times, last exit code %d", s.Restarts, s.ExitCode)
	case s.State == StateExited && s.Settled:
		if s.ExitCode == 0 {
			return Failed, "exited with code 0 but should keep running" + after
		}
		return Failed, fmt.Sprintf("exited with code %d%s", s.ExitCode, after)
	case s.Health == "unhealthy":
		return Failed, "running but unhealthy"
	case s.State == StateRunning:
		up := now.Sub(s.StartedAt)
		if b.cfg.Settle > 0 && (s.StartedAt.IsZero() || up < b.cfg.Settle) {
			return Pending, "running for less than " + b.cfg.Settle.String()
		}
		if s.Health == "starting" {
			return Pending, "running, health check starting"
		}
		return OK, "running"
	}
	return Pending, describe(s)
}

func describe(s ServiceStatus) string {
	switch {
	case s.State == StateExited && s.Exited:
		return fmt.Sprintf("exited with code %d; waiting to see whether Docker restarts it", s.ExitCode)
	case s.State == StateRestarting:
		return fmt.Sprintf("restarting after exit code %d", s.ExitCode)
	}
	return s.State
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// Failure is a failed service with its last log lines (masked).
type Failure struct {
	Service   string
	Container string
	Reason    string
	Hint      string
	Lines     []string
}

// Failing returns the failed services of exp with up to n of their last
// log lines from hub, masked with m (the hub's lines are already masked by
// the follower; masking again costs little and covers a hub fed by
// something else).
func (b *Board) Failing(exp []Expectation, hub *logstream.Hub, m *redact.Redactor, n int) []Failure {
	var out []Failure
	for _, e := range exp {
		if e.Verdict != Failed {
			continue
		}
		f := Failure{Service: e.Service, Container: e.Status.Container, Reason: e.Reason, Hint: ServiceHint(e.Service)}
		if hub != nil && f.Container != "" && n > 0 {
			for _, l := range lastLines(hub, f.Container, n) {
				f.Lines = append(f.Lines, m.MaskString(l.Text))
			}
		}
		out = append(out, f)
	}
	return out
}

// lastLines reads the last n lines of one container from the hub.
func lastLines(hub *logstream.Hub, container string, n int) []logstream.Line {
	cur := hub.Last()
	last, ok := cur[container]
	if !ok {
		return nil
	}
	if last > uint64(n) {
		cur[container] = last - uint64(n)
	} else {
		cur[container] = 0
	}
	lines := hub.Poll(cur, n).Lines
	// A container's stdout and stderr are read apart; show them in the
	// order they were written.
	slices.SortStableFunc(lines, func(a, b logstream.Line) int { return a.TS.Compare(b.TS) })
	return lines
}

// ServiceHint says where to look when a service fails.
func ServiceHint(service string) string {
	switch service {
	case MigrationsService:
		return "Check the database credentials (the admin user and password, and the workspace user), " +
			"that the containers can reach the database host and port (firewall, pg_hba.conf, Cloud SQL authorized networks), " +
			"the SSL mode and CA, and that the admin user may create roles and databases."
	case "router-http":
		return "Check the router certificate and key in certs/ (a full chain, a key without a passphrase) and that ports 80 and 443 are free."
	case "workspace-postgres":
		return "Check the embedded database's volume and the admin password; the embedded database is for testing only."
	case "valkey", "redis":
		return "Check the embedded cache's logs; the host may be short of memory."
	}
	return "Read its last log lines below; a missing or wrong customer.env value is the usual cause."
}
