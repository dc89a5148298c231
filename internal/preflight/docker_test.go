package preflight

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/carto-setup/carto-setup/internal/check"
	"github.com/carto-setup/carto-setup/internal/engine"
	"github.com/carto-setup/carto-setup/internal/testenv"
)

// fakeEngine answers Version and Info with fixed values.
type fakeEngine struct {
	version engine.Version
	info    engine.Info
	infoErr error
}

func (f fakeEngine) Version(context.Context) (engine.Version, error) { return f.version, nil }
func (f fakeEngine) Info(context.Context) (engine.Info, error)       { return f.info, f.infoErr }
func (f fakeEngine) Close() error                                    { return nil }

func connectTo(e Engine, err error) func(context.Context) (Engine, error) {
	return func(context.Context) (Engine, error) { return e, err }
}

// disks is a StatFS over fixed paths.
type disks map[string]Disk

func (d disks) statFS(path string) (Disk, error) {
	if v, ok := d[path]; ok {
		return v, nil
	}
	return Disk{}, &fs.PathError{Op: "statfs", Path: path, Err: syscall.ENOENT}
}

func TestDiskResult(t *testing.T) {
	tests := []struct {
		name string
		disk Disk
		want check.Status
	}{
		{"plenty free on a big disk", Disk{Free: 200e9, Size: 500e9}, check.Pass},
		{"60 GB free on any disk", Disk{Free: 60e9, Size: 60e9}, check.Pass},
		{"fresh 60 GB VM", Disk{Free: 50e9, Size: 58e9}, check.Pass},
		{"30 GB disk", Disk{Free: 25e9, Size: 30e9}, check.Warn},
		{"60 GB disk almost full", Disk{Free: 10e9, Size: 58e9}, check.Fail},
		{"nothing free", Disk{Free: 0, Size: 100e9}, check.Fail},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := diskResult("preflight.disk_release", "the release directory", "/srv/carto", tt.disk, "")
			if r.Status != tt.want {
				t.Errorf("diskResult() = %s (%s), want %s", r.Status, r.Measured, tt.want)
			}
			assertComplete(t, r)
		})
	}
}

func TestCheckDisksAndDocker(t *testing.T) {
	const release, root = "/srv/carto-selfhosted", "/var/lib/docker"
	big := Disk{Free: 100e9, Size: 200e9, Device: 1}
	tests := []struct {
		name       string
		engine     func(context.Context) (Engine, error)
		disks      disks
		wantStatus [3]check.Status // disk_release, docker, disk_docker
		wantInDisk string          // substring of disk_docker's measured value
		wantFixed  bool            // of the docker result
	}{
		{
			name:       "debian docker 20.10 on the same filesystem",
			engine:     connectTo(fakeEngine{version: engine.Version{Version: "20.10.24+dfsg1", APIVersion: "1.41"}, info: engine.Info{DockerRootDir: root}}, nil),
			disks:      disks{release: big, root: big},
			wantStatus: [3]check.Status{check.Pass, check.Pass, check.Pass},
			wantInDisk: "the release directory's filesystem",
		},
		{
			name:       "new engine on its own small disk",
			engine:     connectTo(fakeEngine{version: engine.Version{Version: "27.3.1", APIVersion: "1.47"}, info: engine.Info{DockerRootDir: "/data/docker"}}, nil),
			disks:      disks{release: big, "/data/docker": {Free: 5e9, Size: 20e9, Device: 2}},
			wantStatus: [3]check.Status{check.Pass, check.Pass, check.Fail},
			wantInDisk: "5.0 GB free of 20.0 GB on /data/docker",
		},
		{
			name:       "old engine",
			engine:     connectTo(fakeEngine{version: engine.Version{Version: "19.03.15", APIVersion: "1.40"}, info: engine.Info{DockerRootDir: root}}, nil),
			disks:      disks{release: big, root: big},
			wantStatus: [3]check.Status{check.Pass, check.Fail, check.Pass},
		},
		{
			name:       "data root not visible",
			engine:     connectTo(fakeEngine{version: engine.Version{Version: "24.0.7"}, info: engine.Info{DockerRootDir: "/home/u/.local/share/docker"}}, nil),
			disks:      disks{release: big},
			wantStatus: [3]check.Status{check.Pass, check.Pass, check.Error},
			wantInDisk: "not visible",
		},
		{
			name:       "permission denied on the socket",
			engine:     connectTo(nil, fmt.Errorf("engine: ping unix:///var/run/docker.sock: %w", &net.OpError{Op: "dial", Net: "unix", Err: os.NewSyscallError("connect", syscall.EACCES)})),
			disks:      disks{release: big},
			wantStatus: [3]check.Status{check.Pass, check.Fail, check.Error},
			wantFixed:  true,
		},
		{
			name:       "release dir missing",
			engine:     connectTo(fakeEngine{version: engine.Version{Version: "20.10.24"}, info: engine.Info{DockerRootDir: root}}, nil),
			disks:      disks{root: big},
			wantStatus: [3]check.Status{check.Error, check.Pass, check.Pass},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs := checkDisksAndDocker(context.Background(), Deps{Engine: tt.engine, StatFS: tt.disks.statFS}, Config{ReleaseDir: release})
			if len(rs) != 3 {
				t.Fatalf("got %d results, want 3", len(rs))
			}
			for i, id := range []string{"preflight.disk_release", "preflight.docker", "preflight.disk_docker"} {
				if rs[i].ID != id || rs[i].Status != tt.wantStatus[i] {
					t.Errorf("result %d = %s %s (%s), want %s %s", i, rs[i].ID, rs[i].Status, rs[i].Measured, id, tt.wantStatus[i])
				}
				assertComplete(t, rs[i])
			}
			if !strings.Contains(rs[2].Measured, tt.wantInDisk) {
				t.Errorf("disk_docker measured %q, want it to contain %q", rs[2].Measured, tt.wantInDisk)
			}
			if rs[1].Fixed != tt.wantFixed {
				t.Errorf("docker Fixed = %v, want %v", rs[1].Fixed, tt.wantFixed)
			}
		})
	}
}

func TestCheckCompose(t *testing.T) {
	lookPath := func(have ...string) func(string) (string, error) {
		return func(name string) (string, error) {
			for _, h := range have {
				if h == name {
					return "/usr/bin/" + name, nil
				}
			}
			return "", &exec.Error{Name: name, Err: exec.ErrNotFound}
		}
	}
	run := func(out string) func(context.Context, string, ...string) ([]byte, error) {
		return func(_ context.Context, name string, args ...string) ([]byte, error) {
			if name == "/usr/bin/docker" {
				return []byte("docker: 'compose' is not a docker command.\n"), errors.New("exit status 1")
			}
			return []byte(out), nil
		}
	}
	tests := []struct {
		name         string
		deps         Deps
		wantStatus   check.Status
		wantMeasured string
		wantFixed    bool
	}{
		{"debian 1.29", Deps{LookPath: lookPath("docker-compose", "docker"), Run: run("docker-compose version 1.29.2, build unknown\n")}, check.Pass, "docker-compose 1.29.2 (standalone)", false},
		{"ubuntu 20.04 apt 1.25", Deps{LookPath: lookPath("docker-compose", "docker"), Run: run("docker-compose version 1.25.0, build unknown\n")}, check.Fail, "docker-compose 1.25.0 (standalone)", false},
		{"nothing", Deps{LookPath: lookPath("docker"), Run: run("")}, check.Fail, "not installed", true},
		{"garbled", Deps{LookPath: lookPath("docker-compose"), Run: run("Segmentation fault\n")}, check.Error, "version not readable", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := checkCompose(context.Background(), tt.deps)
			if r.Status != tt.wantStatus || r.Measured != tt.wantMeasured || r.Fixed != tt.wantFixed {
				t.Errorf("checkCompose() = %s %q fixed=%v, want %s %q fixed=%v", r.Status, r.Measured, r.Fixed, tt.wantStatus, tt.wantMeasured, tt.wantFixed)
			}
			assertComplete(t, r)
		})
	}
}

func TestDockerSocket(t *testing.T) {
	tests := []struct{ host, want string }{
		{"", "/var/run/docker.sock"},
		{"unix:///run/user/1000/docker.sock", "/run/user/1000/docker.sock"},
		{"tcp://10.0.0.5:2376", ""},
		{"ssh://me@host", ""},
	}
	for _, tt := range tests {
		if got := dockerSocket(tt.host); got != tt.want {
			t.Errorf("dockerSocket(%q) = %q, want %q", tt.host, got, tt.want)
		}
	}
}

func TestCheckSocket(t *testing.T) {
	// A real unix socket stands in for the daemon's.
	dir := t.TempDir()
	sock := filepath.Join(dir, "docker.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var d net.Dialer
	denied := func(context.Context, string, string) (net.Conn, error) {
		// Root ignores socket permissions, so EACCES is injected.
		return nil, &net.OpError{Op: "dial", Net: "unix", Err: os.NewSyscallError("connect", syscall.EACCES)}
	}
	tests := []struct {
		name         string
		deps         Deps
		wantStatus   check.Status
		wantMeasured string
		wantHint     string
	}{
		{"reachable", Deps{DockerHost: "unix://" + sock, Dial: d.DialContext}, check.Pass, "connected to " + sock, ""},
		{"no socket", Deps{DockerHost: "unix://" + filepath.Join(dir, "nope.sock"), Dial: d.DialContext}, check.Fail, "no Docker socket", "systemctl"},
		{"permission denied", Deps{Dial: denied}, check.Fail, "permission denied on the Docker socket (/var/run/docker.sock)", "sudo usermod -aG docker $USER"},
		{"remote engine", Deps{DockerHost: "tcp://10.0.0.5:2376"}, check.Pass, "engine at tcp://10.0.0.5:2376", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := checkSocket(context.Background(), tt.deps)
			if r.Status != tt.wantStatus || !strings.HasPrefix(r.Measured, tt.wantMeasured) || !strings.Contains(r.Hint, tt.wantHint) {
				t.Errorf("checkSocket() = %s %q hint %q, want %s %q hint containing %q", r.Status, r.Measured, r.Hint, tt.wantStatus, tt.wantMeasured, tt.wantHint)
			}
			if r.Status == check.Fail && !r.Fixed {
				t.Error("a failed socket check must be Fixed")
			}
			assertComplete(t, r)
		})
	}
}

// TestDockerLive runs the Docker checks against the real daemon and Compose.
func TestDockerLive(t *testing.T) {
	deps := DefaultDeps(os.Getenv)
	ctx := context.Background()
	if e, err := deps.Engine(ctx); err != nil {
		testenv.Missing(t, "Docker Engine", "install docker.io and start it ("+err.Error()+")")
	} else {
		e.Close()
	}
	rs := checkDisksAndDocker(ctx, deps, Config{ReleaseDir: t.TempDir()})
	rs = append(rs, checkCompose(ctx, deps), checkSocket(ctx, deps))
	for _, r := range rs {
		t.Logf("%s: %s: %s", r.ID, r.Status, r.Measured)
		assertComplete(t, r)
		switch r.ID {
		case "preflight.docker", "preflight.docker_socket":
			if r.Status != check.Pass {
				t.Errorf("%s = %s (%s), want pass against the running daemon", r.ID, r.Status, r.Measured)
			}
		case "preflight.compose":
			if r.Status == check.Error {
				t.Errorf("%s could not run: %s", r.ID, r.Measured)
			} else if r.Status != check.Pass {
				testenv.Missing(t, "Docker Compose 1.29+", "apt-get install docker-compose")
			}
		case "preflight.disk_docker", "preflight.disk_release":
			if r.Status == check.Error {
				t.Errorf("%s could not run: %s", r.ID, r.Measured)
			}
		}
	}
}
