package deploy

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/carto-setup/carto-setup/internal/compose"
	"github.com/carto-setup/carto-setup/internal/engine"
	"github.com/carto-setup/carto-setup/internal/envfile"
	"github.com/carto-setup/carto-setup/internal/testenv"
	"github.com/google/go-cmp/cmp"
)

// fakeCompose is a Composer whose Up calls a function.
type fakeCompose struct {
	up func(out io.Writer) error
}

func (f fakeCompose) Detect(context.Context) (compose.Tool, error) {
	return compose.Tool{Flavor: compose.Standalone, Path: "/usr/bin/docker-compose", Version: compose.Version{Major: 1, Minor: 29, Raw: "1.29.2"}}, nil
}

func (f fakeCompose) Up(_ context.Context, _ compose.Tool, _, _ string, out io.Writer) error {
	return f.up(out)
}

// fakeDocker is a project whose containers the test sets; it sends no
// events, so the board learns everything from inspections.
type fakeDocker struct {
	mu    sync.Mutex
	conts map[string]engine.ContainerInfo
}

func (d *fakeDocker) set(infos ...engine.ContainerInfo) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.conts == nil {
		d.conts = map[string]engine.ContainerInfo{}
	}
	for _, i := range infos {
		d.conts[i.ID] = i
	}
}

func (d *fakeDocker) ContainerEvents(ctx context.Context, _ string, _ time.Time) (<-chan engine.ContainerEvent, <-chan error) {
	errs := make(chan error, 1)
	go func() { <-ctx.Done(); errs <- ctx.Err() }()
	return make(chan engine.ContainerEvent), errs
}

func (d *fakeDocker) ProjectContainers(context.Context, string) ([]engine.ContainerInfo, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []engine.ContainerInfo
	for _, c := range d.conts {
		c.ExitCode, c.StartedAt = 0, time.Time{} // a listing does not carry them
		out = append(out, c)
	}
	return out, nil
}

func (d *fakeDocker) InspectContainer(_ context.Context, id string) (engine.ContainerInfo, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	c, ok := d.conts[id]
	if !ok {
		return engine.ContainerInfo{}, errors.New("no such container")
	}
	return c, nil
}

func (d *fakeDocker) FollowLogs(context.Context, string, time.Time) (io.ReadCloser, error) {
	return io.NopCloser(strings.NewReader("")), nil
}

// stack returns every service of the stand-in release running, with
// workspace-migrations exited with code migrationsExit.
func stack(p Plan, migrationsExit int) []engine.ContainerInfo {
	var out []engine.ContainerInfo
	for _, s := range p.Services() {
		if p.Scales()[s] == 0 && (s == "workspace-postgres" || s == "valkey") {
			continue
		}
		c := engine.ContainerInfo{ID: "id-" + s, Name: "p_" + s + "_1", Service: s, State: StateRunning, Running: true,
			StartedAt: time.Now().Add(-time.Minute), Tty: true}
		if s == MigrationsService {
			c.State, c.Running, c.ExitCode = StateExited, false, migrationsExit
		}
		out = append(out, c)
	}
	return out
}

func TestRun(t *testing.T) {
	tests := []struct {
		name      string
		up        func(d *fakeDocker, p Plan) func(io.Writer) error
		wantStep  string
		wantInErr []string
	}{
		{"success", func(d *fakeDocker, p Plan) func(io.Writer) error {
			return func(io.Writer) error { d.set(stack(p, 0)...); return nil }
		}, "", nil},
		{"migrations exit 1", func(d *fakeDocker, p Plan) func(io.Writer) error {
			return func(io.Writer) error { d.set(stack(p, 1)...); return nil }
		}, "wait", []string{"workspace-migrations failed: exited with code 1", "database credentials"}},
		{"compose fails", func(d *fakeDocker, p Plan) func(io.Writer) error {
			return func(out io.Writer) error {
				io.WriteString(out, "ERROR: for router-http  Cannot start service router-http: driver failed: Bind for 0.0.0.0:443 failed: port is already allocated\n")
				return &compose.UpError{Op: "up", Kind: compose.KindPortAllocated, Port: "443",
					Line: "POSTGRES_ADMIN_PASSWORD=" + adminPW, Err: errors.New("exit status 1")}
			}
		}, "up", []string{"Host port 443 is already in use"}},
		{"timeout", func(d *fakeDocker, p Plan) func(io.Writer) error {
			return func(io.Writer) error {
				s := stack(p, 0)
				s[0].State, s[0].Running = StateCreated, false
				d.set(s...)
				return nil
			}
		}, "wait", []string{"have not reached their expected state: router-http (created)"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := baseState(t)
			externalDB(&st)
			p, err := NewPlan(st, newRelease(t))
			if err != nil {
				t.Fatal(err)
			}
			d := &fakeDocker{}
			var out testenv.Buffer
			board := NewBoard(BoardConfig{Settle: -1})
			err = Run(context.Background(), Deps{Compose: fakeCompose{up: tc.up(d, p)}, Docker: d},
				RunConfig{Plan: p, Project: "p", Expect: 300 * time.Millisecond, Poll: 20 * time.Millisecond, Board: board}, &out)
			if tc.wantStep == "" {
				if err != nil {
					t.Fatalf("Run: %v\n%s", err, out.String())
				}
				return
			}
			var de *Error
			if !errors.As(err, &de) || de.Step != tc.wantStep {
				t.Fatalf("Run: %v, want a *deploy.Error at step %s\n%s", err, tc.wantStep, out.String())
			}
			for _, s := range tc.wantInErr {
				if !strings.Contains(de.Error(), s) {
					t.Errorf("error %q lacks %q", de.Error(), s)
				}
			}
			for _, s := range st.Secrets() {
				if strings.Contains(de.Error(), s) || strings.Contains(out.String(), s) {
					t.Errorf("a secret shows in the error or the job log:\n%v\n%s", de, out.String())
				}
			}
		})
	}
}

func TestParseComposeServices(t *testing.T) {
	yml := `version: "2.4"
x-logging: &logging
  driver: local
services:

  # the database
  db:
    image: x
    scale: ${LOCAL_POSTGRES_SCALE}
    environment:
      A: b
    volumes:
      - ${BASE}certs:/usr/src/certs:ro
      - data:/var/lib/data
      - type: bind
        source: ./other
        target: /x
      - type: volume
        source: data
        target: /y
  cache:
    image: y
    scale: "${LOCAL_REDIS_SCALE:-1}"
  api:
    image: ${API_IMAGE}
    scale: 2
volumes:
  data: {}
`
	got := parseComposeServices([]byte(yml))
	want := []composeService{
		{name: "db", scale: "${LOCAL_POSTGRES_SCALE}", image: "x", volumes: []string{"${BASE}certs:/usr/src/certs:ro", "data:/var/lib/data", "./other:/x"}},
		{name: "cache", scale: "${LOCAL_REDIS_SCALE:-1}", image: "y"},
		{name: "api", scale: "2", image: "${API_IMAGE}"},
	}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(composeService{})); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestResolveScale(t *testing.T) {
	env, err := envfile.Parse([]byte("LOCAL_POSTGRES_SCALE=0\nLOCAL_REDIS_SCALE=1\nEMPTY=\nWORD=many\n"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		expr   string
		want   int
		wantOK bool
	}{
		{"${LOCAL_POSTGRES_SCALE}", 0, true},
		{`"${LOCAL_REDIS_SCALE:-0}"`, 1, true},
		{"$LOCAL_POSTGRES_SCALE", 0, true},
		{"${UNSET:-2}", 2, true},
		{"${EMPTY:-3}", 3, true},
		{"4", 4, true},
		{"${WORD}", 0, false},
		{"${UNSET}", 0, false},
	}
	for _, tc := range tests {
		got, ok := resolveScale(tc.expr, env)
		if got != tc.want || ok != tc.wantOK {
			t.Errorf("resolveScale(%q) = %d, %v; want %d, %v", tc.expr, got, ok, tc.want, tc.wantOK)
		}
	}
}
