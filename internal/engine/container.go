package engine

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
)

// ContainerSpec is a long-running helper container that publishes TCP
// ports on the host, such as the relay that answers on port 80 for a wizard
// that may not bind it.
type ContainerSpec struct {
	Name    string // "" lets the daemon choose
	Image   string
	Cmd     []string // arguments after the image's entrypoint
	Labels  map[string]string
	User    string // "uid:gid"; "" keeps the image's user
	Publish []PublishedPort
	// AutoRemove has the daemon remove the container once it exits.
	AutoRemove bool
	// Memory (bytes) and Pids bound the container; 0 leaves them unbounded.
	Memory int64
	Pids   int64
}

// PublishedPort binds a host port to a container port, both TCP.
type PublishedPort struct {
	ContainerPort int
	HostIP        string // "" means every address
	HostPort      int
}

// CreateContainer creates a container from spec on the default bridge
// network and returns its ID. Every container it creates is locked down
// whatever the spec says: not privileged, every capability dropped,
// no-new-privileges, a read-only root filesystem, and a terminal so that
// its log is one plain stream (see LastLogLines).
func (c *Client) CreateContainer(ctx context.Context, spec ContainerSpec) (string, error) {
	opts, err := createOptions(spec)
	if err != nil {
		return "", fmt.Errorf("engine: create %s: %w", spec.Image, err)
	}
	res, err := c.api.ContainerCreate(ctx, opts)
	if err != nil {
		return "", fmt.Errorf("engine: create %s: %w", spec.Image, err)
	}
	return res.ID, nil
}

// createOptions turns a spec into the daemon's create request.
func createOptions(spec ContainerSpec) (client.ContainerCreateOptions, error) {
	exposed := network.PortSet{}
	bindings := network.PortMap{}
	for _, p := range spec.Publish {
		port, ok := network.PortFrom(uint16(p.ContainerPort), network.TCP)
		if !ok || p.ContainerPort < 1 || p.ContainerPort > 65535 || p.HostPort < 0 || p.HostPort > 65535 {
			return client.ContainerCreateOptions{}, fmt.Errorf("publish %d->%d: port out of range", p.HostPort, p.ContainerPort)
		}
		var hostIP netip.Addr
		if p.HostIP != "" {
			ip, err := netip.ParseAddr(p.HostIP)
			if err != nil {
				return client.ContainerCreateOptions{}, fmt.Errorf("publish on %q: %w", p.HostIP, err)
			}
			hostIP = ip
		}
		exposed[port] = struct{}{}
		bindings[port] = append(bindings[port], network.PortBinding{HostIP: hostIP, HostPort: strconv.Itoa(p.HostPort)})
	}
	hc := &container.HostConfig{
		PortBindings:   bindings,
		AutoRemove:     spec.AutoRemove,
		Privileged:     false,
		CapDrop:        []string{"ALL"},
		SecurityOpt:    []string{"no-new-privileges:true"},
		ReadonlyRootfs: true,
		RestartPolicy:  container.RestartPolicy{Name: container.RestartPolicyDisabled},
	}
	hc.Memory = spec.Memory
	if spec.Pids > 0 {
		pids := spec.Pids
		hc.PidsLimit = &pids
	}
	return client.ContainerCreateOptions{
		Name: spec.Name,
		Config: &container.Config{
			Image:        spec.Image,
			Cmd:          spec.Cmd,
			Labels:       spec.Labels,
			User:         spec.User,
			ExposedPorts: exposed,
			Tty:          true,
		},
		HostConfig: hc,
	}, nil
}

// StartContainer starts a created container. A port the daemon cannot bind
// on the host fails here.
func (c *Client) StartContainer(ctx context.Context, id string) error {
	if _, err := c.api.ContainerStart(ctx, id, client.ContainerStartOptions{}); err != nil {
		return fmt.Errorf("engine: start %s: %w", id, err)
	}
	return nil
}

// ContainerExit is how a waited-for container ended.
type ContainerExit struct {
	Code int
	Err  error
}

// WaitContainer waits, in the background, for the container's next exit
// and sends the result on the returned channel once. Call it before
// StartContainer so that a quick exit is not missed; cancelling ctx ends
// the wait with ctx's error.
func (c *Client) WaitContainer(ctx context.Context, id string) <-chan ContainerExit {
	out := make(chan ContainerExit, 1)
	wait := c.api.ContainerWait(ctx, id, client.ContainerWaitOptions{Condition: container.WaitConditionNextExit})
	go func() {
		select {
		case res := <-wait.Result:
			exit := ContainerExit{Code: int(res.StatusCode)}
			if res.Error != nil && res.Error.Message != "" {
				exit.Err = fmt.Errorf("engine: wait %s: %s", id, res.Error.Message)
			}
			out <- exit
		case err := <-wait.Error:
			out <- ContainerExit{Code: -1, Err: fmt.Errorf("engine: wait %s: %w", id, err)}
		}
	}()
	return out
}

// StopContainer asks the container to stop, killing it after grace. A
// container that does not exist (any more) is not an error.
func (c *Client) StopContainer(ctx context.Context, id string, grace time.Duration) error {
	secs := int(grace.Round(time.Second) / time.Second)
	_, err := c.api.ContainerStop(ctx, id, client.ContainerStopOptions{Timeout: &secs})
	if err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("engine: stop %s: %w", id, err)
	}
	return nil
}

// RemoveContainer kills and removes the container and returns once it is
// gone, also when the daemon was already removing it (AutoRemove). A
// container that does not exist is not an error.
func (c *Client) RemoveContainer(ctx context.Context, id string) error {
	_, err := c.api.ContainerRemove(ctx, id, client.ContainerRemoveOptions{Force: true})
	switch {
	case err == nil, cerrdefs.IsNotFound(err):
		return nil
	case cerrdefs.IsConflict(err):
		// "removal of container ... is already in progress": wait for it.
		wait := c.api.ContainerWait(ctx, id, client.ContainerWaitOptions{Condition: container.WaitConditionRemoved})
		select {
		case <-wait.Result:
			return nil
		case werr := <-wait.Error:
			if cerrdefs.IsNotFound(werr) {
				return nil
			}
			return fmt.Errorf("engine: remove %s: %w (then waiting: %v)", id, err, werr)
		}
	default:
		return fmt.Errorf("engine: remove %s: %w", id, err)
	}
}

// ContainerExists reports whether the daemon knows a container by this ID
// or name, running or not.
func (c *Client) ContainerExists(ctx context.Context, id string) (bool, error) {
	_, err := c.api.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err == nil {
		return true, nil
	}
	if cerrdefs.IsNotFound(err) {
		return false, nil
	}
	return false, fmt.Errorf("engine: inspect %s: %w", id, err)
}

// LabeledContainers lists the containers, running or not, that carry the
// label key=value.
func (c *Client) LabeledContainers(ctx context.Context, key, value string) ([]ContainerInfo, error) {
	res, err := c.api.ContainerList(ctx, client.ContainerListOptions{
		All:     true,
		Filters: make(client.Filters).Add("label", key+"="+value),
	})
	if err != nil {
		return nil, fmt.Errorf("engine: list containers labelled %s=%s: %w", key, value, err)
	}
	out := make([]ContainerInfo, 0, len(res.Items))
	for _, s := range res.Items {
		name := ""
		if len(s.Names) > 0 {
			name = strings.TrimPrefix(s.Names[0], "/")
		}
		out = append(out, ContainerInfo{
			ID:      s.ID,
			Name:    name,
			Service: s.Labels[LabelComposeService],
			State:   string(s.State),
			Running: s.State == container.StateRunning,
		})
	}
	return out, nil
}

// Bridge is the daemon's default bridge network as seen from the host.
type Bridge struct {
	Subnet netip.Prefix
	// Gateway is the host's address on the bridge: what a container on it
	// dials to reach a listener on the host.
	Gateway   netip.Addr
	Interface string // e.g. "docker0"
}

// DefaultBridge describes the default "bridge" network. The daemon does
// not always report the gateway (Docker 20.10 leaves it out of the default
// bridge's IPAM config); then it is the IPv4 address of the bridge
// interface on this host, or the subnet's first address when the interface
// cannot be read, which is where dockerd puts it unless --bip says
// otherwise.
func (c *Client) DefaultBridge(ctx context.Context) (Bridge, error) {
	res, err := c.api.NetworkInspect(ctx, "bridge", client.NetworkInspectOptions{})
	if err != nil {
		return Bridge{}, fmt.Errorf("engine: inspect the bridge network: %w", err)
	}
	b := Bridge{Interface: res.Network.Options["com.docker.network.bridge.name"]}
	for _, cfg := range res.Network.IPAM.Config {
		if !cfg.Subnet.Addr().Is4() {
			continue
		}
		b.Subnet = cfg.Subnet
		if cfg.Gateway.Is4() {
			b.Gateway = cfg.Gateway
		}
		break
	}
	if !b.Subnet.IsValid() {
		return Bridge{}, fmt.Errorf("engine: the bridge network has no IPv4 subnet")
	}
	if !b.Gateway.IsValid() {
		b.Gateway = interfaceAddr(b.Interface, b.Subnet)
	}
	if !b.Gateway.IsValid() {
		b.Gateway = b.Subnet.Masked().Addr().Next()
	}
	return b, nil
}

// interfaceAddr returns the address of the named host interface that lies
// in subnet, or the zero Addr.
func interfaceAddr(name string, subnet netip.Prefix) netip.Addr {
	if name == "" {
		return netip.Addr{}
	}
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return netip.Addr{}
	}
	addrs, err := ifi.Addrs()
	if err != nil {
		return netip.Addr{}
	}
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		ip, ok := netip.AddrFromSlice(ipn.IP)
		if ok && subnet.Contains(ip.Unmap()) {
			return ip.Unmap()
		}
	}
	return netip.Addr{}
}

// maxLogTail bounds what LastLogLines reads.
const maxLogTail = 16 << 10

// LastLogLines returns the last n lines of the stored log of a container
// made by CreateContainer (whose terminal makes the log one plain stream),
// at most 16 KiB of them.
func (c *Client) LastLogLines(ctx context.Context, id string, n int) (string, error) {
	rc, err := c.RecentLogs(ctx, id, n)
	if err != nil {
		return "", err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, maxLogTail))
	if err != nil {
		return string(b), fmt.Errorf("engine: logs of %s: %w", id, err)
	}
	return string(b), nil
}
