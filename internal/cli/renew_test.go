package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/carto-setup/carto-setup/internal/compose"
	"github.com/carto-setup/carto-setup/internal/renew"
)

func TestComposeRouterArgs(t *testing.T) {
	var got [][]string
	run := func(ctx context.Context, name string, args ...string) ([]byte, error) {
		got = append(got, append([]string{name}, args...))
		if len(args) > 0 && args[0] == "--version" {
			return []byte("docker-compose version 1.29.2, build unknown\n"), nil
		}
		if args[len(args)-2] == "start" {
			return []byte("Starting router-http ... error\nERROR: No containers to start\n"), errors.New("exit status 1")
		}
		return nil, nil
	}
	lookPath := func(file string) (string, error) {
		if file == "docker-compose" {
			return "/usr/bin/docker-compose", nil
		}
		return "", errors.New("not found")
	}
	r := &composeRouter{dir: "/srv/carto-selfhosted", project: "carto-selfhosted", lookPath: lookPath, run: run}
	if err := r.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
	err := r.Start(t.Context())
	if err == nil || !strings.Contains(err.Error(), "No containers to start") {
		t.Errorf("Start error = %v, want Compose's last lines", err)
	}
	tool := compose.Tool{Flavor: compose.Standalone, Path: "/usr/bin/docker-compose"}
	want := [][]string{
		{"/usr/bin/docker-compose", "--version"},
		tool.Args("carto-selfhosted", "/srv/carto-selfhosted", "stop", renew.RouterService),
		tool.Args("carto-selfhosted", "/srv/carto-selfhosted", "start", renew.RouterService),
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("commands run:\n%q\nwant:\n%q", got, want)
	}
}
