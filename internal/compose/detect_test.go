package compose

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseVersion(t *testing.T) {
	tests := []struct {
		out     string
		want    Version
		wantErr bool
	}{
		{out: "docker-compose version 1.29.2, build 5becea4c\n", want: Version{1, 29, 2, "1.29.2"}},
		{out: "docker-compose version 1.29.2, build unknown\ndocker-py version: 5.0.3\nCPython version: 3.11.2\n", want: Version{1, 29, 2, "1.29.2"}},
		{out: "docker-compose version 1.25.0, build unknown", want: Version{1, 25, 0, "1.25.0"}},
		{out: "Docker Compose version v2.27.0\n", want: Version{2, 27, 0, "2.27.0"}},
		{out: "docker-compose version v2.5.0", want: Version{2, 5, 0, "2.5.0"}},
		{out: "Docker Compose version 2.29.1-desktop.1", want: Version{2, 29, 1, "2.29.1-desktop.1"}},
		{out: "Docker Compose version v2.24.6+ds1-0ubuntu2", want: Version{2, 24, 6, "2.24.6+ds1-0ubuntu2"}},
		{out: "2.27.0\n", want: Version{2, 27, 0, "2.27.0"}},
		{out: "v2.1.1", want: Version{2, 1, 1, "2.1.1"}},
		{out: "docker: 'compose' is not a docker command.\nSee 'docker --help'", wantErr: true},
		{out: "", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.out, func(t *testing.T) {
			got, err := ParseVersion(tt.out)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseVersion() error = %v, wantErr %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseVersion() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestVersionAtLeast(t *testing.T) {
	tests := []struct {
		v            Version
		major, minor int
		want         bool
	}{
		{Version{Major: 1, Minor: 29}, 1, 29, true},
		{Version{Major: 1, Minor: 28, Patch: 9}, 1, 29, false},
		{Version{Major: 1, Minor: 30}, 1, 29, true},
		{Version{Major: 2, Minor: 0}, 1, 29, true},
		{Version{Major: 0, Minor: 99}, 1, 29, false},
	}
	for _, tt := range tests {
		if got := tt.v.AtLeast(tt.major, tt.minor); got != tt.want {
			t.Errorf("%+v.AtLeast(%d, %d) = %v, want %v", tt.v, tt.major, tt.minor, got, tt.want)
		}
	}
}

// fakeHost answers lookPath and run from fixed tables, as a host with the
// given executables and outputs would.
type fakeHost struct {
	paths   map[string]string // name -> path
	outputs map[string]string // "path args..." -> output; absent means exit 1
}

func (h fakeHost) lookPath(name string) (string, error) {
	if p, ok := h.paths[name]; ok {
		return p, nil
	}
	return "", &exec.Error{Name: name, Err: exec.ErrNotFound}
}

func (h fakeHost) run(_ context.Context, name string, args ...string) ([]byte, error) {
	key := strings.Join(append([]string{name}, args...), " ")
	if out, ok := h.outputs[key]; ok {
		return []byte(out), nil
	}
	return []byte("docker: 'compose' is not a docker command.\n"), fmt.Errorf("exit status 1")
}

func TestDetect(t *testing.T) {
	const (
		v1    = "docker-compose version 1.29.2, build 5becea4c\n"
		v1old = "docker-compose version 1.25.0, build unknown\n"
		v2    = "Docker Compose version v2.27.0\n"
	)
	tests := []struct {
		name    string
		host    fakeHost
		want    Tool
		wantErr error
	}{
		{
			name: "standalone v1 preferred over plugin",
			host: fakeHost{
				paths:   map[string]string{"docker-compose": "/usr/bin/docker-compose", "docker": "/usr/bin/docker"},
				outputs: map[string]string{"/usr/bin/docker-compose --version": v1, "/usr/bin/docker compose version": v2},
			},
			want: Tool{Flavor: Standalone, Path: "/usr/bin/docker-compose", Version: Version{1, 29, 2, "1.29.2"}},
		},
		{
			name: "standalone v2 binary",
			host: fakeHost{
				paths:   map[string]string{"docker-compose": "/usr/local/bin/docker-compose"},
				outputs: map[string]string{"/usr/local/bin/docker-compose --version": "Docker Compose version v2.1.1\n"},
			},
			want: Tool{Flavor: Standalone, Path: "/usr/local/bin/docker-compose", Version: Version{2, 1, 1, "2.1.1"}},
		},
		{
			name: "plugin only",
			host: fakeHost{
				paths:   map[string]string{"docker": "/usr/bin/docker"},
				outputs: map[string]string{"/usr/bin/docker compose version": "Docker Compose version 2.29.1-desktop.1\n"},
			},
			want: Tool{Flavor: Plugin, Path: "/usr/bin/docker", Version: Version{2, 29, 1, "2.29.1-desktop.1"}},
		},
		{
			name: "old standalone loses to plugin",
			host: fakeHost{
				paths:   map[string]string{"docker-compose": "/usr/bin/docker-compose", "docker": "/usr/bin/docker"},
				outputs: map[string]string{"/usr/bin/docker-compose --version": v1old, "/usr/bin/docker compose version": v2},
			},
			want: Tool{Flavor: Plugin, Path: "/usr/bin/docker", Version: Version{2, 27, 0, "2.27.0"}},
		},
		{
			name: "old standalone alone is returned with ErrTooOld",
			host: fakeHost{
				paths:   map[string]string{"docker-compose": "/usr/bin/docker-compose", "docker": "/usr/bin/docker"},
				outputs: map[string]string{"/usr/bin/docker-compose --version": v1old},
			},
			want:    Tool{Flavor: Standalone, Path: "/usr/bin/docker-compose", Version: Version{1, 25, 0, "1.25.0"}},
			wantErr: ErrTooOld,
		},
		{
			name:    "docker without plugin",
			host:    fakeHost{paths: map[string]string{"docker": "/usr/bin/docker"}},
			wantErr: ErrNotFound,
		},
		{
			name:    "nothing installed",
			host:    fakeHost{},
			wantErr: ErrNotFound,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Detect(context.Background(), tt.host.lookPath, tt.host.run)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Detect() error = %v, want %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Detect() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestToolSupportedAndString(t *testing.T) {
	tests := []struct {
		tool          Tool
		wantSupported bool
		wantString    string
	}{
		{Tool{Flavor: Standalone, Version: Version{1, 29, 2, "1.29.2"}}, true, "docker-compose 1.29.2 (standalone)"},
		{Tool{Flavor: Standalone, Version: Version{1, 27, 4, "1.27.4"}}, false, "docker-compose 1.27.4 (standalone)"},
		{Tool{Flavor: Plugin, Version: Version{2, 27, 0, "2.27.0"}}, true, "docker compose 2.27.0 (plugin)"},
	}
	for _, tt := range tests {
		if got := tt.tool.Supported(); got != tt.wantSupported {
			t.Errorf("%v.Supported() = %v, want %v", tt.tool, got, tt.wantSupported)
		}
		if got := tt.tool.String(); got != tt.wantString {
			t.Errorf("String() = %q, want %q", got, tt.wantString)
		}
	}
}
