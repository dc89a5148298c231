package engine

import (
	"context"
	"fmt"
	"net/netip"
	"slices"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
)

// ProjectNetworks is where the containers of a Compose project connect
// from, as seen by a server on this host.
type ProjectNetworks struct {
	// Subnets are the IPv4 subnets of the project's networks when they
	// exist, else the address pools the daemon will carve them from.
	Subnets []netip.Prefix
	// Exist says Subnets are the project's own networks' (named in
	// Networks); false means the project has no network yet (before the
	// first install) and Subnets are the pools.
	Exist    bool
	Networks []string
}

// builtinPools returns the private ranges Docker's built-in default
// address pools are carved from (172.17.0.0/16 to 172.31.0.0/16, and
// 192.168.0.0/16 in /20s), used when the daemon does not report its pools,
// as Docker 20.10 does not.
func builtinPools() []netip.Prefix {
	return []netip.Prefix{netip.MustParsePrefix("172.16.0.0/12"), netip.MustParsePrefix("192.168.0.0/16")}
}

// ProjectSubnets reads the subnets of the networks Docker Compose made for
// project (labelled com.docker.compose.project, or named
// <project>_default). When there are none yet it returns the daemon's
// default address pools, or Docker's built-in ones when the daemon does
// not report them, with Exist false.
func (c *Client) ProjectSubnets(ctx context.Context, project string) (ProjectNetworks, error) {
	res, err := c.api.NetworkList(ctx, client.NetworkListOptions{
		Filters: make(client.Filters).Add("label", LabelComposeProject+"="+project),
	})
	if err != nil {
		return ProjectNetworks{}, fmt.Errorf("engine: list the networks of %s: %w", project, err)
	}
	nets := make([]network.Network, 0, len(res.Items))
	for _, n := range res.Items {
		nets = append(nets, n.Network)
	}
	if len(nets) == 0 {
		in, err := c.api.NetworkInspect(ctx, project+"_default", client.NetworkInspectOptions{})
		switch {
		case err == nil:
			nets = append(nets, in.Network.Network)
		case !cerrdefs.IsNotFound(err):
			return ProjectNetworks{}, fmt.Errorf("engine: inspect %s_default: %w", project, err)
		}
	}
	var pn ProjectNetworks
	for _, n := range nets {
		for _, cfg := range n.IPAM.Config {
			if cfg.Subnet.Addr().Is4() && !slices.Contains(pn.Subnets, cfg.Subnet) {
				pn.Subnets = append(pn.Subnets, cfg.Subnet)
			}
		}
		pn.Networks = append(pn.Networks, n.Name)
	}
	if len(pn.Subnets) > 0 {
		pn.Exist = true
		slices.Sort(pn.Networks)
		return pn, nil
	}
	info, err := c.api.Info(ctx, client.InfoOptions{})
	if err != nil {
		return ProjectNetworks{}, fmt.Errorf("engine: info: %w", err)
	}
	for _, p := range info.Info.DefaultAddressPools {
		if p.Base.Addr().Is4() {
			pn.Subnets = append(pn.Subnets, p.Base)
		}
	}
	if len(pn.Subnets) == 0 {
		pn.Subnets = builtinPools()
	}
	pn.Networks = nil
	return pn, nil
}
