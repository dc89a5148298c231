package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
)

// RunSpec is a short-lived container: an image with its command, attached
// to one network, with a terminal so that its output is one raw stream.
type RunSpec struct {
	Image   string
	Cmd     []string
	Network string // e.g. "<project>_default"; "" means the default bridge
	Labels  map[string]string
}

// maxRunOutput bounds what Run keeps of a container's output.
const maxRunOutput = 1 << 20

// RunOnce creates a container from spec, starts it, waits for it to exit and
// returns its output and exit code; the container is removed in every case.
// ctx bounds the whole run: when it ends the container is killed.
func (c *Client) RunOnce(ctx context.Context, spec RunSpec) ([]byte, int, error) {
	created, err := c.api.ContainerCreate(ctx, client.ContainerCreateOptions{
		Config: &container.Config{Image: spec.Image, Cmd: spec.Cmd, Tty: true, Labels: spec.Labels},
		// Locked down like every helper container: it only makes requests.
		HostConfig: &container.HostConfig{
			NetworkMode: container.NetworkMode(spec.Network), CapDrop: []string{"ALL"},
			SecurityOpt: []string{"no-new-privileges"}, ReadonlyRootfs: true,
		},
	})
	if err != nil {
		return nil, 0, fmt.Errorf("engine: run %s: create: %w", spec.Image, err)
	}
	id := created.ID
	defer func() {
		// Removal must happen even when ctx has ended.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 20*time.Second)
		defer cancel()
		c.api.ContainerRemove(rctx, id, client.ContainerRemoveOptions{Force: true})
	}()
	// Wait for the next exit before starting, so a quick exit is not missed.
	wait := c.api.ContainerWait(ctx, id, client.ContainerWaitOptions{Condition: container.WaitConditionNextExit})
	if _, err := c.api.ContainerStart(ctx, id, client.ContainerStartOptions{}); err != nil {
		return nil, 0, fmt.Errorf("engine: run %s: start: %w", spec.Image, err)
	}
	var code int
	select {
	case res := <-wait.Result:
		code = int(res.StatusCode)
		if res.Error != nil && res.Error.Message != "" {
			return nil, code, fmt.Errorf("engine: run %s: wait: %s", spec.Image, res.Error.Message)
		}
	case err := <-wait.Error:
		return nil, 0, fmt.Errorf("engine: run %s: wait: %w", spec.Image, err)
	}
	logs, err := c.api.ContainerLogs(ctx, id, client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true})
	if err != nil {
		return nil, code, fmt.Errorf("engine: run %s: logs: %w", spec.Image, err)
	}
	defer logs.Close()
	var out bytes.Buffer
	if _, err := io.Copy(&out, io.LimitReader(logs, maxRunOutput)); err != nil && !errors.Is(err, io.EOF) {
		return out.Bytes(), code, fmt.Errorf("engine: run %s: read logs: %w", spec.Image, err)
	}
	return out.Bytes(), code, nil
}

// RecentLogs opens the last n lines of a container's stored log, stdout and
// stderr, without following it. The stream is multiplexed unless the
// container has a TTY (see InspectContainer).
func (c *Client) RecentLogs(ctx context.Context, id string, n int) (io.ReadCloser, error) {
	rc, err := c.api.ContainerLogs(ctx, id, client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true, Tail: strconv.Itoa(n)})
	if err != nil {
		return nil, fmt.Errorf("engine: logs of %s: %w", id, err)
	}
	return rc, nil
}
