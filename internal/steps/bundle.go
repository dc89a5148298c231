package steps

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/carto-setup/carto-setup/internal/bundle"
	"github.com/carto-setup/carto-setup/internal/deploy"
	"github.com/carto-setup/carto-setup/internal/engine"
	"github.com/carto-setup/carto-setup/internal/logstream"
	"github.com/carto-setup/carto-setup/internal/wizard"
)

// bundleLogLines is how many of each container's last log lines the
// support bundle carries.
const bundleLogLines = 200

// Build collects the support bundle: the state, the release's env files,
// the check results and job history, Docker's version, info and container
// status, and each container's last log lines, all masked by package
// bundle.
func (s *Smoker) Build(ctx context.Context) (*bundle.Bundle, error) {
	st, err := s.c.Steps.store.Load()
	if err != nil {
		return nil, err
	}
	stateJSON, err := bundle.StateJSON(st)
	if err != nil {
		return nil, err
	}
	files := []bundle.File{{Name: "wizard-state.json", Data: stateJSON}}
	for _, name := range []string{deploy.CustomerEnvFile, deploy.DotEnvFile} {
		if b, err := os.ReadFile(filepath.Join(s.c.ReleaseDir, name)); err == nil {
			files = append(files, bundle.File{Name: "release/" + name, Data: b, Env: true})
		}
	}
	checks, _ := json.MarshalIndent(struct {
		Checks    map[wizard.Step]wizard.CheckRun `json:"checks"`
		Overrides []wizard.Override               `json:"overrides"`
	}{st.Checks, st.Overrides}, "", "  ")
	files = append(files, bundle.File{Name: "checks.json", Data: checks})
	files = append(files, s.history()...)

	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	files = append(files, s.dockerFiles(dctx)...)
	return bundle.Build(files, bundle.StateSecrets(st), s.c.Version, s.c.Steps.d.Now())
}

// history returns the job records and the smoke-test results kept in the
// state directory.
func (s *Smoker) history() []bundle.File {
	var files []bundle.File
	for _, dir := range []string{"jobs", "history"} {
		entries, _ := os.ReadDir(filepath.Join(s.c.StateDir, dir))
		for _, e := range entries {
			if e.Type().IsRegular() && filepath.Ext(e.Name()) == ".json" {
				if b, err := os.ReadFile(filepath.Join(s.c.StateDir, dir, e.Name())); err == nil {
					files = append(files, bundle.File{Name: dir + "/" + e.Name(), Data: b})
				}
			}
		}
	}
	return files
}

// dockerFiles returns Docker's version and info, the Compose project's
// container status and the containers' last log lines; when Docker is not
// reachable, a note that says so.
func (s *Smoker) dockerFiles(ctx context.Context) []bundle.File {
	eng, err := engine.New(ctx)
	if err != nil {
		s.c.Log.Warn("support bundle: Docker Engine not reachable", "err", err)
		return []bundle.File{{Name: "docker/unreachable.txt", Data: []byte("The Docker Engine could not be reached when this bundle was made.\n")}}
	}
	defer eng.Close()
	asJSON := func(v any) []byte { b, _ := json.MarshalIndent(v, "", "  "); return b }
	var files []bundle.File
	if v, err := eng.Version(ctx); err == nil {
		files = append(files, bundle.File{Name: "docker/version.json", Data: asJSON(v)})
	}
	if v, err := eng.Info(ctx); err == nil {
		files = append(files, bundle.File{Name: "docker/info.json", Data: asJSON(v)})
	}
	list, err := eng.ProjectContainers(ctx, s.c.Project)
	if err != nil {
		return files
	}
	var status []engine.ContainerInfo
	for _, c := range list {
		info, err := eng.InspectContainer(ctx, c.ID)
		if err != nil {
			info = c
		}
		status = append(status, info)
		if lines, err := recentLines(ctx, eng, c.ID, info.Tty); err == nil {
			files = append(files, bundle.File{Name: "logs/" + c.Name + ".log", Data: []byte(strings.Join(lines, "\n") + "\n")})
		}
	}
	slices.SortFunc(status, func(a, b engine.ContainerInfo) int { return strings.Compare(a.Name, b.Name) })
	files = append(files, bundle.File{Name: "docker/compose-status.json", Data: asJSON(struct {
		Project    string                 `json:"project"`
		Containers []engine.ContainerInfo `json:"containers"`
	}{s.c.Project, status})})
	return files
}

// recentLines reads a container's last log lines, tagged with their stream.
func recentLines(ctx context.Context, eng *engine.Client, id string, tty bool) ([]string, error) {
	rc, err := eng.RecentLogs(ctx, id, bundleLogLines)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	dec := logstream.NewDecoder(rc, tty, false)
	var lines []string
	for {
		rec, err := dec.Next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return lines, nil
			}
			return lines, err
		}
		lines = append(lines, rec.Stream.String()+" | "+string(rec.Text))
	}
}
