package compose

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestArgs(t *testing.T) {
	tests := []struct {
		name string
		tool Tool
		sub  []string
		want []string
	}{
		{
			name: "standalone",
			tool: Tool{Flavor: Standalone, Path: "/usr/bin/docker-compose"},
			sub:  []string{"up", "-d", "--remove-orphans"},
			want: []string{"/usr/bin/docker-compose", "--ansi", "never", "--project-name", "carto", "--file", "/srv/carto-selfhosted/docker-compose.yml", "--project-directory", "/srv/carto-selfhosted", "up", "-d", "--remove-orphans"},
		},
		{
			name: "plugin",
			tool: Tool{Flavor: Plugin, Path: "/usr/bin/docker"},
			sub:  []string{"down"},
			want: []string{"/usr/bin/docker", "compose", "--ansi", "never", "--project-name", "carto", "--file", "/srv/carto-selfhosted/docker-compose.yml", "--project-directory", "/srv/carto-selfhosted", "down"},
		},
		{
			name: "no subcommand",
			tool: Tool{Flavor: Plugin, Path: "docker"},
			want: []string{"docker", "compose", "--ansi", "never", "--project-name", "carto", "--file", "/srv/carto-selfhosted/docker-compose.yml", "--project-directory", "/srv/carto-selfhosted"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.tool.Args("carto", "/srv/carto-selfhosted/", tt.sub...)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Args() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestValidProjectName(t *testing.T) {
	tests := []struct {
		name string
		want bool
	}{
		{"carto-selfhosted", true},
		{"carto_selfhosted2", true},
		{"9carto", true},
		{"", false},
		{"-carto", false},
		{"Carto", false},
		{"carto selfhosted", false},
		{"carto.selfhosted", false},
	}
	for _, tt := range tests {
		if got := ValidProjectName(tt.name); got != tt.want {
			t.Errorf("ValidProjectName(%q) = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestTailBuffer(t *testing.T) {
	tb := &tailBuffer{max: 8}
	for _, s := range []string{"abc", "defgh", "ijk", "0123456789xyz"} {
		if n, err := tb.Write([]byte(s)); n != len(s) || err != nil {
			t.Fatalf("Write(%q) = %d, %v", s, n, err)
		}
	}
	if got, want := tb.String(), "56789xyz"; got != want {
		t.Errorf("tail = %q, want %q", got, want)
	}
}

func TestComposeEnv(t *testing.T) {
	in := []string{
		"PATH=/usr/bin", "HOME=/home/admin", "LANG=C.UTF-8", "LC_ALL=C",
		"DOCKER_HOST=unix:///run/docker.sock", "DOCKER_CONFIG=/home/admin/.docker",
		"COMPOSE_HTTP_TIMEOUT=120", "COMPOSE_PROJECT_NAME=other", "COMPOSE_FILE=x.yml",
		"SELFHOSTED_DOMAIN=wrong.example.com", "POSTGRES_ADMIN_PASSWORD=from-shell", "SSH_AUTH_SOCK=/tmp/agent",
	}
	want := []string{
		"PATH=/usr/bin", "HOME=/home/admin", "LANG=C.UTF-8", "LC_ALL=C",
		"DOCKER_HOST=unix:///run/docker.sock", "DOCKER_CONFIG=/home/admin/.docker",
		"COMPOSE_HTTP_TIMEOUT=120",
	}
	if diff := cmp.Diff(want, composeEnv(in)); diff != "" {
		t.Errorf("composeEnv() mismatch (-want +got):\n%s", diff)
	}
}
