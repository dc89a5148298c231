package status

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/carto-setup/carto-setup/internal/certcheck"
	"github.com/carto-setup/carto-setup/internal/engine"
)

type fakeEngine struct {
	list []engine.ContainerInfo
	err  error
}

func (f fakeEngine) ProjectContainers(context.Context, string) ([]engine.ContainerInfo, error) {
	return f.list, f.err
}

func (f fakeEngine) InspectContainer(_ context.Context, id string) (engine.ContainerInfo, error) {
	for _, c := range f.list {
		if c.ID == id {
			return c, nil
		}
	}
	return engine.ContainerInfo{}, errors.New("no such container")
}

// TestRead judges each service as the release expects it and reads the
// installed certificate the way the smoke test does.
func TestRead(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	certPEM, _, fp, err := certcheck.SelfSigned("carto.example.com", now)
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(dir, "certs"), 0o700)
	os.WriteFile(filepath.Join(dir, "certs", "router.crt"), certPEM, 0o600)
	os.WriteFile(filepath.Join(dir, ".env"), []byte("SELFHOSTED_DOMAIN=carto.example.com\nROUTER_SSL_CERTIFICATE_PATH=/etc/nginx/ssl/router.crt\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "VERSION"), []byte("2026.8.11\n"), 0o600)
	r := &Reader{Project: "p", ReleaseDir: dir, Engine: fakeEngine{list: []engine.ContainerInfo{
		{ID: "1", Name: "p_router-http_1", Service: "router-http", State: "running", Running: true, StartedAt: now.Add(-time.Minute)},
		{ID: "2", Name: "p_workspace-api_1", Service: "workspace-api", State: "exited", ExitCode: 137, RestartCount: 3},
		{ID: "3", Name: "p_workspace-migrations_1", Service: "workspace-migrations", State: "exited"},
		{ID: "4", Name: "p_maps-api_1", Service: "maps-api", State: "running", Running: true, Health: "unhealthy"},
	}}}
	rep := r.read(context.Background(), []string{"router-http", "workspace-api", "workspace-migrations", "maps-api", "lds-api", "workspace-postgres"}, map[string]int{"workspace-postgres": 0})
	want := map[string]string{"router-http": OK, "workspace-api": Failed, "workspace-migrations": OK, "maps-api": Failed, "lds-api": Failed}
	if len(rep.Services) != len(want) {
		t.Fatalf("%d services: %+v", len(rep.Services), rep.Services)
	}
	for _, s := range rep.Services {
		if s.Verdict != want[s.Name] {
			t.Errorf("%s: %s (%s), want %s", s.Name, s.Verdict, s.Reason, want[s.Name])
		}
	}
	if rep.Ready != 2 || rep.Services[1].Restarts != 3 || rep.CheckedOut != "2026.8.11" {
		t.Errorf("ready %d, restarts %d, release %q", rep.Ready, rep.Services[1].Restarts, rep.CheckedOut)
	}
	if !rep.Cert.Known || rep.Cert.Fingerprint != fp || rep.Cert.Names != "carto.example.com" || rep.Domain != "carto.example.com" {
		t.Errorf("certificate %+v, domain %q", rep.Cert, rep.Domain)
	}

	r.Engine, r.EngineErr = nil, errors.New("no socket")
	if rep := r.read(context.Background(), []string{"router-http"}, nil); rep.EngineProblem == "" || rep.Ready != 0 {
		t.Errorf("without Docker: %+v", rep)
	}
}
