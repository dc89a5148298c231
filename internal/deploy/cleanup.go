package deploy

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/carto-setup/carto-setup/internal/compose"
	"github.com/carto-setup/carto-setup/internal/engine"
)

// Resource is a Docker volume or network of a Compose project.
type Resource = engine.Resource

// ProjectResources lists and removes the volumes and networks Compose
// created for a project (those labelled com.docker.compose.project);
// *engine.Client is the real one.
type ProjectResources interface {
	ProjectVolumes(ctx context.Context, project string) ([]Resource, error)
	ProjectNetworks(ctx context.Context, project string) ([]Resource, error)
	RemoveVolume(ctx context.Context, name string) error
	RemoveNetwork(ctx context.Context, name string) error
}

// Downer takes a Compose project down; SystemCompose is the real one.
type Downer interface {
	Down(ctx context.Context, tool compose.Tool, dir, project string, out io.Writer) error
}

// Down runs `down --remove-orphans`, which removes the project's
// containers and its default network and keeps its volumes.
func (SystemCompose) Down(ctx context.Context, tool compose.Tool, dir, project string, out io.Writer) error {
	return compose.Down(ctx, tool, dir, project, out)
}

// Cleanup says what RemoveFailedInstall removed and what it left, in
// sentences for the admin.
type Cleanup struct {
	Removed []string
	Left    []string
}

// RemoveFailedInstall undoes what a failed first install created: it takes
// the project down (its containers and the <project>_default network) and
// removes the project's volumes and networks created at or after since,
// the moment the install started (by this host's clock, which the daemon
// shares; to the second), such as workspace-pgdata, which Compose
// creates even when the database is external. A volume that existed
// before is an earlier install's data and is left, as are the images, the
// files in the release directory (customer.env, .env, certs/) and the
// record of what was written, so that the next attempt starts from them.
// It is meant for a first install only: it takes every container of the
// project down.
func RemoveFailedInstall(ctx context.Context, down Downer, res ProjectResources, tool compose.Tool, dir, project string, since time.Time, out io.Writer) (Cleanup, error) {
	var c Cleanup
	if err := down.Down(ctx, tool, dir, project, out); err != nil {
		return c, fmt.Errorf("deploy: remove the failed install: %w", err)
	}
	c.Removed = append(c.Removed, "the containers and the network of "+project+" (compose down)")
	// The daemon keeps creation times to the second.
	since = since.Truncate(time.Second)
	vols, err := res.ProjectVolumes(ctx, project)
	if err != nil {
		return c, fmt.Errorf("deploy: remove the failed install: %w", err)
	}
	for _, v := range vols {
		if v.Created.Before(since) {
			c.Left = append(c.Left, "volume "+v.Name+" (it existed before this install)")
			continue
		}
		if err := res.RemoveVolume(ctx, v.Name); err != nil {
			return c, fmt.Errorf("deploy: remove volume %s: %w", v.Name, err)
		}
		c.Removed = append(c.Removed, "volume "+v.Name)
	}
	nets, err := res.ProjectNetworks(ctx, project)
	if err != nil {
		return c, fmt.Errorf("deploy: remove the failed install: %w", err)
	}
	for _, n := range nets {
		if n.Created.Before(since) {
			c.Left = append(c.Left, "network "+n.Name+" (it existed before this install)")
			continue
		}
		if err := res.RemoveNetwork(ctx, n.Name); err != nil {
			return c, fmt.Errorf("deploy: remove network %s: %w", n.Name, err)
		}
		c.Removed = append(c.Removed, "network "+n.Name)
	}
	c.Left = append(c.Left, "the images", "the files in "+dir+" (customer.env, .env, certs/), for the next attempt")
	return c, nil
}
