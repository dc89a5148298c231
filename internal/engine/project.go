package engine

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"
)

// Resource is a volume or network of a Compose project, with the moment
// the daemon created it (to the second for volumes).
type Resource struct {
	Name    string
	Created time.Time
}

// ProjectVolumes lists the volumes Compose created for project (labelled
// com.docker.compose.project), sorted by name.
func (c *Client) ProjectVolumes(ctx context.Context, project string) ([]Resource, error) {
	res, err := c.api.VolumeList(ctx, client.VolumeListOptions{Filters: projectFilter(project)})
	if err != nil {
		return nil, fmt.Errorf("engine: list the volumes of %s: %w", project, err)
	}
	out := make([]Resource, 0, len(res.Items))
	for _, v := range res.Items {
		created, err := time.Parse(time.RFC3339, v.CreatedAt)
		if err != nil {
			// Without a creation time the volume cannot be told apart
			// from an earlier install's data: say it is old.
			created = time.Time{}
		}
		out = append(out, Resource{Name: v.Name, Created: created})
	}
	slices.SortFunc(out, func(a, b Resource) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// ProjectNetworks lists the networks Compose created for project
// (labelled com.docker.compose.project), sorted by name.
func (c *Client) ProjectNetworks(ctx context.Context, project string) ([]Resource, error) {
	res, err := c.api.NetworkList(ctx, client.NetworkListOptions{Filters: projectFilter(project)})
	if err != nil {
		return nil, fmt.Errorf("engine: list the networks of %s: %w", project, err)
	}
	out := make([]Resource, 0, len(res.Items))
	for _, n := range res.Items {
		out = append(out, Resource{Name: n.Name, Created: n.Created})
	}
	slices.SortFunc(out, func(a, b Resource) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// RemoveVolume removes a volume; one that is already gone is no error. A
// volume a container still uses is refused by the daemon.
func (c *Client) RemoveVolume(ctx context.Context, name string) error {
	if _, err := c.api.VolumeRemove(ctx, name, client.VolumeRemoveOptions{}); err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("engine: remove volume %s: %w", name, err)
	}
	return nil
}

// RemoveNetwork removes a network; one that is already gone is no error.
func (c *Client) RemoveNetwork(ctx context.Context, name string) error {
	if _, err := c.api.NetworkRemove(ctx, name, client.NetworkRemoveOptions{}); err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("engine: remove network %s: %w", name, err)
	}
	return nil
}

func projectFilter(project string) client.Filters {
	return make(client.Filters).Add("label", LabelComposeProject+"="+project)
}
