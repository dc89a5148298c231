package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/client"
)

// Exec runs cmd in the running container with env added to its
// environment (the values travel in the API request, never on a command
// line), feeds it stdin (nil: none) and copies its output, stdout and
// stderr apart, to the writers (nil: discarded). It returns the command's
// exit code once its output has ended; err is for a failure to run it at
// all. No terminal is allocated, so binary output such as a pg_dump
// archive passes unchanged. When ctx ends the connection is closed and the
// command gets no more input; the daemon does not kill it.
func (c *Client) Exec(ctx context.Context, container string, cmd []string, env []string, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
	if len(cmd) == 0 {
		return 0, errors.New("engine: exec: no command")
	}
	created, err := c.api.ExecCreate(ctx, container, client.ExecCreateOptions{
		Cmd: cmd, Env: env, AttachStdin: stdin != nil, AttachStdout: true, AttachStderr: true,
	})
	if err != nil {
		return 0, fmt.Errorf("engine: exec %s in %s: create: %w", cmd[0], short(container), err)
	}
	att, err := c.api.ExecAttach(ctx, created.ID, client.ExecAttachOptions{})
	if err != nil {
		return 0, fmt.Errorf("engine: exec %s in %s: attach: %w", cmd[0], short(container), err)
	}
	defer att.Close()
	stop := context.AfterFunc(ctx, att.Close)
	defer stop()

	if stdout == nil {
		stdout = io.Discard
	}
	if stderr == nil {
		stderr = io.Discard
	}
	fed := make(chan error, 1)
	if stdin != nil {
		go func() {
			_, err := io.Copy(att.Conn, stdin)
			// Closing our side is the command's end of input; its output
			// still comes back on the same connection.
			if cerr := att.CloseWrite(); err == nil {
				err = cerr
			}
			fed <- err
		}()
	} else {
		fed <- nil
	}
	_, copyErr := stdcopy.StdCopy(stdout, stderr, att.Reader)
	if ctx.Err() != nil {
		return 0, fmt.Errorf("engine: exec %s in %s: %w", cmd[0], short(container), ctx.Err())
	}
	if copyErr != nil {
		return 0, fmt.Errorf("engine: exec %s in %s: read output: %w", cmd[0], short(container), copyErr)
	}
	select {
	case err := <-fed:
		// A command that exits without reading all its input breaks the
		// pipe: that is its exit code's business, not an error here.
		_ = err
	case <-time.After(5 * time.Second):
	}
	// The output ends just before the daemon records the exit code.
	for attempt := 0; ; attempt++ {
		res, err := c.api.ExecInspect(ctx, created.ID, client.ExecInspectOptions{})
		if err != nil {
			return 0, fmt.Errorf("engine: exec %s in %s: inspect: %w", cmd[0], short(container), err)
		}
		if !res.Running {
			return res.ExitCode, nil
		}
		if attempt == 50 {
			return 0, fmt.Errorf("engine: exec %s in %s: the output ended but the command still runs", cmd[0], short(container))
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("engine: exec %s in %s: %w", cmd[0], short(container), ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// short shortens a container ID for messages; names pass unchanged.
func short(id string) string {
	if len(id) == 64 {
		return id[:12]
	}
	return id
}
