package preflight

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"syscall"
	"testing"

	"github.com/carto-setup/carto-setup/internal/check"
	"github.com/carto-setup/carto-setup/internal/engine"
)

// TestOverridable is preflight's overridability table: a host that fails
// every check, and whether an override may get past each failure. What
// cannot work whatever the reason (the wrong CPU architecture, no Docker,
// no usable socket, no Compose, a port another program holds, an
// incomplete release) is fixed; what may (sizes, disks, old versions,
// egress) is not.
func TestOverridable(t *testing.T) {
	t.Parallel()
	refused := fmt.Errorf("engine: ping: %w", &net.OpError{Op: "dial", Net: "unix", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)})
	base := Deps{
		ReadFile: files{"/etc/os-release": "ID=debian\nVERSION_ID=12\n", "/proc/meminfo": meminfo("8000000 kB")}.read,
		Stat:     os.Stat,
		StatFS:   disks{}.statFS,
		NumCPU:   2,
		GOARCH:   "arm64",
		Engine:   connectTo(nil, refused),
		LookPath: func(name string) (string, error) { return "", &exec.Error{Name: name, Err: exec.ErrNotFound} },
		Run:      func(context.Context, string, ...string) ([]byte, error) { return nil, errors.New("not called") },
		Dial: func(context.Context, string, string) (net.Conn, error) {
			return nil, &net.OpError{Op: "dial", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
		},
		Listen: func(string, string) (net.Listener, error) {
			return nil, &net.OpError{Op: "listen", Err: os.NewSyscallError("bind", syscall.EADDRINUSE)}
		},
	}
	cfg := Config{ReleaseDir: t.TempDir(), EgressTargets: []string{"auth.carto.com:443", "gcr.io:443"}}
	want := map[string]bool{
		"preflight.os":            false, // a warning
		"preflight.arch":          true,
		"preflight.cpu":           false,
		"preflight.memory":        false,
		"preflight.disk_release":  false, // could not measure
		"preflight.docker":        true,
		"preflight.disk_docker":   false,
		"preflight.compose":       true,
		"preflight.docker_socket": true,
		"preflight.ports":         true,
		"preflight.release_files": true,
		IDEgressConnect:           false,
	}
	got := Run(context.Background(), base, cfg)
	if len(got) != len(want) {
		t.Errorf("%d results for %d table rows", len(got), len(want))
	}
	for _, r := range got {
		w, ok := want[r.ID]
		if !ok {
			t.Errorf("%s is not in the table", r.ID)
			continue
		}
		if r.Fixed != w || (r.Fixed && r.Status != check.Fail) {
			t.Errorf("%s (%s) fixed=%v, want %v", r.ID, r.Status, r.Fixed, w)
		}
		if r.Status == check.Pass {
			t.Errorf("%s passed on a host that fails everything", r.ID)
		}
	}

	// Old versions are overridable; absent ones are not.
	old := base
	old.Engine = connectTo(fakeEngine{version: engine.Version{Version: "19.03.1"}}, nil)
	if r := findID(Run(context.Background(), old, cfg), "preflight.docker"); r.Status != check.Fail || r.Fixed {
		t.Errorf("old engine: %s fixed=%v, want an overridable failure", r.Status, r.Fixed)
	}
	oldCompose := base
	oldCompose.LookPath = func(name string) (string, error) {
		if name == "docker-compose" {
			return "/usr/bin/docker-compose", nil
		}
		return "", &exec.Error{Name: name, Err: exec.ErrNotFound}
	}
	oldCompose.Run = func(context.Context, string, ...string) ([]byte, error) {
		return []byte("docker-compose version 1.25.0, build unknown\n"), nil
	}
	if r := checkCompose(context.Background(), oldCompose); r.Status != check.Fail || r.Fixed {
		t.Errorf("old compose: %s %q fixed=%v, want an overridable failure", r.Status, r.Measured, r.Fixed)
	}
}

func findID(rs []check.Result, id string) check.Result {
	for _, r := range rs {
		if r.ID == id {
			return r
		}
	}
	return check.Result{}
}
