package steps

import (
	"context"
	"io"
	"os/exec"
	"time"

	"github.com/carto-setup/carto-setup/internal/compose"
	"github.com/carto-setup/carto-setup/internal/deploy"
	"github.com/carto-setup/carto-setup/internal/engine"
)

// project is the pinned Compose project name.
func (in *Installer) project() string {
	if in.c.Project == "" {
		return deploy.DefaultProject
	}
	return in.c.Project
}

// RemoveFailed undoes what a failed first install that started at since
// created (deploy.RemoveFailedInstall): the project's containers and
// network, and the volumes made at or after since. What it leaves (older
// volumes, the images, the files of the release directory) is in
// Cleanup.Left. Compose's output goes to out. Only for a first install:
// it takes every container of the project down.
func (in *Installer) RemoveFailed(ctx context.Context, since time.Time, out io.Writer) (deploy.Cleanup, error) {
	eng, err := engine.New(ctx)
	if err != nil {
		return deploy.Cleanup{}, err
	}
	defer eng.Close()
	tool, err := compose.Detect(ctx, exec.LookPath, compose.Exec)
	if err != nil {
		return deploy.Cleanup{}, err
	}
	return deploy.RemoveFailedInstall(ctx, deploy.SystemCompose{}, eng, tool, in.c.ReleaseDir, in.project(), since, out)
}

// RemoveCommands are the shell commands that remove what a failed first
// install started at since created, for an admin who removes it by hand:
// Compose's down, then the volumes and networks made since.
func (in *Installer) RemoveCommands(ctx context.Context, since time.Time) ([]string, error) {
	eng, err := engine.New(ctx)
	if err != nil {
		return nil, err
	}
	defer eng.Close()
	tool, err := compose.Detect(ctx, exec.LookPath, compose.Exec)
	if err != nil {
		return nil, err
	}
	argv := tool.Args(in.project(), in.c.ReleaseDir, "down", "--remove-orphans")
	cmds := []string{deploy.ShellCommand(argv)}
	since = since.Truncate(time.Second)
	vols, err := eng.ProjectVolumes(ctx, in.project())
	if err != nil {
		return nil, err
	}
	var names []string
	for _, v := range vols {
		if !v.Created.Before(since) {
			names = append(names, v.Name)
		}
	}
	if len(names) > 0 {
		cmds = append(cmds, deploy.ShellCommand(append([]string{"docker", "volume", "rm"}, names...)))
	}
	return cmds, nil
}
