package engine

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/client"
)

// ContainerEvent is a state change of a container, as the daemon reports it.
type ContainerEvent struct {
	ID      string
	Name    string
	Service string // Compose service label
	// Action is the daemon's action: "create", "start", "die", "stop",
	// "kill", "restart", "destroy", "oom", "health_status: healthy", ...
	Action   string
	ExitCode int // for "die"
	Time     time.Time
}

// ContainerEvents subscribes to the events of a Compose project's
// containers. It returns once the daemon has accepted the subscription, so
// a list made afterwards misses nothing. A non-zero since asks the daemon to
// replay the events it still holds from that time on (it keeps the last
// 256). The error channel receives one value when the subscription ends,
// including ctx.Err() after cancellation; events are then no longer sent.
// The events channel is unbuffered: drain it promptly, because the daemon
// drops events for a subscriber that lags more than 100 ms.
func (c *Client) ContainerEvents(ctx context.Context, project string, since time.Time) (<-chan ContainerEvent, <-chan error) {
	opts := client.EventsListOptions{
		Filters: make(client.Filters).Add("type", string(events.ContainerEventType)).
			Add("label", LabelComposeProject+"="+project),
	}
	if !since.IsZero() {
		opts.Since = fmt.Sprintf("%d.%09d", since.Unix(), since.Nanosecond())
	}
	res := c.api.Events(ctx, opts)
	out := make(chan ContainerEvent)
	errs := make(chan error, 1)
	go func() {
		for {
			select {
			case m := <-res.Messages:
				select {
				case out <- containerEvent(m):
				case <-ctx.Done():
					errs <- ctx.Err()
					return
				}
			case err := <-res.Err:
				if err == nil {
					err = ctx.Err()
				}
				errs <- fmt.Errorf("engine: events of %s: %w", project, err)
				return
			}
		}
	}()
	return out, errs
}

func containerEvent(m events.Message) ContainerEvent {
	a := m.Actor.Attributes
	ev := ContainerEvent{
		ID:      m.Actor.ID,
		Name:    a["name"],
		Service: a[LabelComposeService],
		Action:  string(m.Action),
	}
	if code, err := strconv.Atoi(a["exitCode"]); err == nil {
		ev.ExitCode = code
	}
	switch {
	case m.TimeNano != 0:
		ev.Time = time.Unix(0, m.TimeNano)
	case m.Time != 0:
		ev.Time = time.Unix(m.Time, 0)
	}
	return ev
}
