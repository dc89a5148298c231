package preflight

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/carto-setup/carto-setup/internal/check"
	"github.com/carto-setup/carto-setup/internal/engine"
	"github.com/google/go-cmp/cmp"
)

// TestRun runs every check on a fake host that meets every requirement and
// checks the contract: stable IDs in a stable order, the preflight step on
// each, and all passing.
func TestRun(t *testing.T) {
	dir := t.TempDir()
	for _, f := range ReleaseFiles() {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("x\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	sockDir := t.TempDir()
	sock := filepath.Join(sockDir, "docker.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	tlsAddr, pool := tlsServer(t, "auth.carto.com")
	var d net.Dialer

	deps := Deps{
		ReadFile: files{"/etc/os-release": osUbuntu2204, "/proc/meminfo": meminfo("16365312 kB")}.read,
		Stat:     os.Stat,
		StatFS:   disks{dir: {Free: 50e9, Size: 58e9, Device: 7}, "/var/lib/docker": {Free: 50e9, Size: 58e9, Device: 7}}.statFS,
		NumCPU:   4,
		GOARCH:   "amd64",
		Engine: connectTo(fakeEngine{
			version: engine.Version{Version: "24.0.7", APIVersion: "1.43"},
			info:    engine.Info{DockerRootDir: "/var/lib/docker"},
		}, nil),
		LookPath: func(name string) (string, error) {
			if name == "docker" {
				return "/usr/bin/docker", nil
			}
			return "", &exec.Error{Name: name, Err: exec.ErrNotFound}
		},
		Run: func(context.Context, string, ...string) ([]byte, error) {
			return []byte("Docker Compose version v2.27.0\n"), nil
		},
		DockerHost: "unix://" + sock,
		Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if network == "unix" {
				return d.DialContext(ctx, network, addr)
			}
			return d.DialContext(ctx, network, tlsAddr)
		},
		Listen: func(string, string) (net.Listener, error) {
			return net.Listen("tcp", "127.0.0.1:0")
		},
		RootCAs: pool,
	}
	cfg := Config{ReleaseDir: dir, EgressTargets: []string{"auth.carto.com:443"}, EgressTimeout: time.Second}
	rs := Run(context.Background(), deps, cfg)

	var ids []string
	for _, r := range rs {
		ids = append(ids, r.ID)
		if r.Step != Step {
			t.Errorf("%s has step %q", r.ID, r.Step)
		}
		if r.Status != check.Pass {
			t.Errorf("%s = %s (%s: %s)", r.ID, r.Status, r.Measured, r.Message)
		}
		assertComplete(t, r)
	}
	want := []string{
		"preflight.os", "preflight.arch", "preflight.cpu", "preflight.memory",
		"preflight.disk_release", "preflight.docker", "preflight.disk_docker",
		"preflight.compose", "preflight.docker_socket", "preflight.ports",
		"preflight.release_files", "preflight.egress.auth.carto.com",
	}
	if diff := cmp.Diff(want, ids); diff != "" {
		t.Errorf("IDs mismatch (-want +got):\n%s", diff)
	}
}

// TestRunNoDocker checks that a host without a reachable engine still gets
// a result for every check, with the engine-dependent ones explaining why.
func TestRunNoDocker(t *testing.T) {
	deps := Deps{
		ReadFile: files{}.read,
		Stat:     os.Stat,
		StatFS:   disks{}.statFS,
		NumCPU:   2,
		GOARCH:   "amd64",
		Engine:   connectTo(nil, fmt.Errorf("engine: ping: %w", &net.OpError{Op: "dial", Net: "unix", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)})),
		LookPath: func(name string) (string, error) { return "", &exec.Error{Name: name, Err: exec.ErrNotFound} },
		Run:      func(context.Context, string, ...string) ([]byte, error) { return nil, errors.New("not called") },
		Dial: func(context.Context, string, string) (net.Conn, error) {
			return nil, &net.OpError{Op: "dial", Err: errors.New("connection refused")}
		},
		Listen: func(string, string) (net.Listener, error) { return net.Listen("tcp", "127.0.0.1:0") },
	}
	rs := Run(context.Background(), deps, Config{ReleaseDir: t.TempDir(), EgressTargets: []string{"gcr.io:443"}})
	got := map[string]check.Status{}
	for _, r := range rs {
		if r.ID == "preflight.docker" && r.Measured != "the Docker daemon is not running" {
			t.Errorf("docker measured %q, want the daemon named as not running", r.Measured)
		}
		got[r.ID] = r.Status
		assertComplete(t, r)
	}
	want := map[string]check.Status{
		"preflight.os": check.Error, "preflight.arch": check.Pass, "preflight.cpu": check.Fail,
		"preflight.memory": check.Error, "preflight.disk_release": check.Error, "preflight.docker": check.Fail,
		"preflight.disk_docker": check.Error, "preflight.compose": check.Fail, "preflight.docker_socket": check.Fail,
		"preflight.ports": check.Pass, "preflight.release_files": check.Fail, "preflight.egress.gcr.io": check.Fail,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("statuses mismatch (-want +got):\n%s", diff)
	}
}
