package engine

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/moby/moby/client"
)

// The labels Docker Compose puts on the containers it creates.
const (
	LabelComposeProject = "com.docker.compose.project"
	LabelComposeService = "com.docker.compose.service"
)

// ContainerInfo is what the log follower needs to know about a container.
type ContainerInfo struct {
	ID      string
	Name    string // without the leading "/"
	Service string // Compose service, "" if not a Compose container
	State   string // "created", "running", "exited", ...
	Running bool
	// Tty, StartedAt and ExitCode are only known from InspectContainer;
	// ProjectContainers leaves them zero.
	Tty       bool
	StartedAt time.Time
	ExitCode  int
	// Health is the healthcheck's status (healthy, unhealthy, starting),
	// "" without a healthcheck; RestartCount counts the daemon's restarts
	// under the restart policy. InspectContainer only.
	Health       string
	RestartCount int
}

// ProjectContainers lists the containers of a Compose project, running or
// not.
func (c *Client) ProjectContainers(ctx context.Context, project string) ([]ContainerInfo, error) {
	return c.LabeledContainers(ctx, LabelComposeProject, project)
}

// InspectContainer returns a container's name, service, state and whether it
// has a terminal (which decides how its log stream is framed).
func (c *Client) InspectContainer(ctx context.Context, id string) (ContainerInfo, error) {
	res, err := c.api.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil {
		return ContainerInfo{}, fmt.Errorf("engine: inspect %s: %w", id, err)
	}
	r := res.Container
	info := ContainerInfo{ID: r.ID, Name: strings.TrimPrefix(r.Name, "/")}
	if r.Config != nil {
		info.Tty = r.Config.Tty
		info.Service = r.Config.Labels[LabelComposeService]
	}
	if r.State != nil {
		info.State = string(r.State.Status)
		info.Running = r.State.Running
		info.ExitCode = r.State.ExitCode
		info.StartedAt, _ = time.Parse(time.RFC3339Nano, r.State.StartedAt)
		if r.State.Health != nil {
			info.Health = string(r.State.Health.Status)
		}
	}
	info.RestartCount = r.RestartCount
	return info, nil
}

// FollowLogs opens a container's log stream with stdout, stderr and
// timestamps, following it while the container runs. A non-zero since
// starts at that daemon timestamp (inclusive); zero means all stored logs.
// The stream is multiplexed unless the container has a TTY; closing it, or
// cancelling ctx, ends the request.
func (c *Client) FollowLogs(ctx context.Context, id string, since time.Time) (io.ReadCloser, error) {
	opts := client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true, Timestamps: true, Follow: true}
	if !since.IsZero() {
		// Seconds and nanoseconds: the one format every API version takes
		// with full precision.
		opts.Since = fmt.Sprintf("%d.%09d", since.Unix(), since.Nanosecond())
	}
	rc, err := c.api.ContainerLogs(ctx, id, opts)
	if err != nil {
		return nil, fmt.Errorf("engine: logs of %s: %w", id, err)
	}
	return rc, nil
}
