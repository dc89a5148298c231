package compose

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/carto-setup/carto-setup/internal/engine"
	"github.com/carto-setup/carto-setup/internal/testenv"
)

// liveTool returns the Compose installed on this machine, after making sure
// the Docker daemon answers; without either the test is reported Missing.
func liveTool(t *testing.T) Tool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := engine.New(ctx)
	if err != nil {
		testenv.Missing(t, "Docker Engine", "install docker.io and start it: "+err.Error())
	}
	c.Close()
	tool, err := Detect(ctx, exec.LookPath, Exec)
	if err != nil {
		testenv.Missing(t, "Docker Compose", "apt-get install docker-compose: "+err.Error())
	}
	return tool
}

// liveProject writes compose into a temporary release directory and returns
// the directory and a project name no other test uses.
func liveProject(t *testing.T, composeFile string) (dir, project string) {
	t.Helper()
	dir = t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, FileName), []byte(composeFile), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, fmt.Sprintf("cartosetuptest%x", rand.Text()[:8])
}

func TestUpLive(t *testing.T) {
	tool := liveTool(t)
	tests := []struct {
		name      string
		file      string
		wantKinds []Kind
	}{
		{
			// The network is closed on the project machines, so the pull
			// fails as registry-unreachable; with a network, Docker Hub
			// answers pull-denied. Both are pull failures.
			name: "image cannot be pulled",
			file: "version: \"2.4\"\nservices:\n  web:\n    image: carto-setup-test/does-not-exist:0.0.0\n",
			wantKinds: []Kind{
				KindRegistryUnreachable, KindPullDenied, KindImageNotFound,
			},
		},
		{
			name:      "invalid compose file",
			file:      "version: \"2.4\"\nservices:\n  web:\n    imagex: carto-setup-test/does-not-exist:0.0.0\n",
			wantKinds: []Kind{KindInvalidFile},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir, project := liveProject(t, tt.file)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			t.Cleanup(func() {
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				// Up may have created the project network before failing.
				_ = Down(ctx, tool, dir, project, nil)
			})
			var out bytes.Buffer
			err := Up(ctx, tool, dir, project, &out)
			var upErr *UpError
			if !errors.As(err, &upErr) {
				t.Fatalf("Up() error = %v, want *UpError; output:\n%s", err, out.String())
			}
			if out.Len() == 0 {
				t.Error("Up() streamed no output")
			}
			for _, k := range tt.wantKinds {
				if upErr.Kind == k {
					return
				}
			}
			t.Errorf("Up() kind = %s, want one of %v; output:\n%s", upErr.Kind, tt.wantKinds, out.String())
		})
	}
}

// TestUpLivePortTaken builds a one-file image locally (nothing is pulled),
// holds a port, and asks Compose to publish it. The daemon binds published
// ports before it runs the container's process, so the image needs no
// program.
func TestUpLivePortTaken(t *testing.T) {
	tool := liveTool(t)
	docker := testenv.LookPath(t, "docker", "install the docker CLI (docker.io)")
	const image = "carto-setup-test/compose-portprobe:dev"
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	buildDir := t.TempDir()
	for name, content := range map[string]string{"Dockerfile": "FROM scratch\nCOPY marker /marker\n", "marker": "x\n"} {
		if err := os.WriteFile(filepath.Join(buildDir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := exec.CommandContext(ctx, docker, "build", "-q", "-t", image, buildDir).CombinedOutput(); err != nil {
		t.Fatalf("docker build: %v\n%s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command(docker, "rmi", "-f", image).Run() })

	held, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	port := held.Addr().(*net.TCPAddr).Port

	dir, project := liveProject(t, fmt.Sprintf("version: \"2.4\"\nservices:\n  web:\n    image: %s\n    command: [\"/marker\"]\n    ports: [\"%d:8080\"]\n", image, port))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = Down(ctx, tool, dir, project, nil)
	})
	var out bytes.Buffer
	err = Up(ctx, tool, dir, project, &out)
	var upErr *UpError
	if !errors.As(err, &upErr) {
		t.Fatalf("Up() error = %v, want *UpError; output:\n%s", err, out.String())
	}
	if upErr.Kind != KindPortAllocated || upErr.Port != fmt.Sprint(port) {
		t.Errorf("Up() = {Kind: %s, Port: %q}, want {%s, %q}; output:\n%s", upErr.Kind, upErr.Port, KindPortAllocated, fmt.Sprint(port), out.String())
	}
}

func TestUpRejectsBadProjectName(t *testing.T) {
	err := Up(context.Background(), Tool{Flavor: Standalone, Path: "/nonexistent/docker-compose"}, t.TempDir(), "Bad Name", nil)
	if err == nil {
		t.Fatal("Up() with an invalid project name succeeded")
	}
	var upErr *UpError
	if errors.As(err, &upErr) {
		t.Errorf("Up() = %v, want a plain error before running Compose", err)
	}
}

func TestDownRetriesWhileEndpointsAreReleased(t *testing.T) {
	busy := errors.New(`compose: down: other: error while removing network: network p_default id 1 has active endpoints`)
	for _, tc := range []struct {
		name  string
		errs  []error
		calls int
		ok    bool
	}{
		{"first try", []error{nil}, 1, true},
		{"endpoint released on the second try", []error{busy, nil}, 2, true},
		{"gives up after three", []error{busy, busy, busy, nil}, 3, false},
		{"other failure is not retried", []error{errors.New("daemon unreachable"), nil}, 1, false},
	} {
		calls := 0
		err := downRetrying(context.Background(), func() error { calls++; return tc.errs[calls-1] })
		if calls != tc.calls || (err == nil) != tc.ok {
			t.Errorf("%s: %d calls, err %v", tc.name, calls, err)
		}
	}
}
