package engine

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/moby/moby/client"
)

// The labels Docker Compose tells a service's replicas by: their number
// (1, 2, ...; a recreated container keeps it), and whether the container
// is a one-off run (docker compose run), which is not a replica at all.
const (
	LabelComposeNumber = "com.docker.compose.container-number"
	LabelComposeOneOff = "com.docker.compose.oneoff"
)

// ContainerGeneration is what tells one container of a Compose service from
// the one it replaced, or one run of a container from the next: its ID,
// image, creation and start times and restart count. The project log
// follower reads it to mark recreations, restarts and image changes.
type ContainerGeneration struct {
	ID      string
	Name    string // without the leading "/"
	Service string // Compose service, "" if not a Compose container
	Number  int    // Compose replica number; 0 if unlabelled
	OneOff  bool   // a one-off container (docker compose run)
	Image   string // as the container was created with it, e.g. "carto/api:2025.1"
	ImageID string // "sha256:..."
	Running bool
	// Created is when the container was created; StartedAt and
	// FinishedAt are the last start and the last exit (FinishedAt is
	// that of the previous run while the container runs again).
	Created, StartedAt, FinishedAt time.Time
	RestartCount                   int
}

// ContainerGeneration inspects a container for what identifies its
// generation.
func (c *Client) ContainerGeneration(ctx context.Context, id string) (ContainerGeneration, error) {
	res, err := c.api.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil {
		return ContainerGeneration{}, fmt.Errorf("engine: inspect %s: %w", id, err)
	}
	r := res.Container
	g := ContainerGeneration{ID: r.ID, Name: strings.TrimPrefix(r.Name, "/"), ImageID: r.Image, RestartCount: r.RestartCount}
	g.Created, _ = time.Parse(time.RFC3339Nano, r.Created)
	if r.Config != nil {
		g.Image = r.Config.Image
		g.Service = r.Config.Labels[LabelComposeService]
		g.Number, _ = strconv.Atoi(r.Config.Labels[LabelComposeNumber])
		g.OneOff = strings.EqualFold(r.Config.Labels[LabelComposeOneOff], "true")
	}
	if r.State != nil {
		g.Running = r.State.Running
		g.StartedAt, _ = time.Parse(time.RFC3339Nano, r.State.StartedAt)
		g.FinishedAt, _ = time.Parse(time.RFC3339Nano, r.State.FinishedAt)
	}
	return g, nil
}
