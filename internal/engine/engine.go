// Package engine is the one place that talks to the Docker Engine API, through
// github.com/moby/moby/client. Everything else in carto-setup uses the small
// methods here, so that a change of client library or API version touches one
// package. It knows nothing about CARTO; it must not run the docker CLI.
package engine

import (
	"context"
	"fmt"
	"slices"

	"github.com/moby/moby/client"
)

// Client is a connected Docker Engine client whose API version has been
// negotiated with the daemon.
type Client struct {
	api *client.Client
}

// New connects to the engine named by the environment (DOCKER_HOST, default
// the local socket) and negotiates the API version eagerly, so that an
// unreachable or incompatible daemon fails here with a clear error rather
// than on the first real request.
func New(ctx context.Context) (*Client, error) {
	api, err := client.New(client.FromEnv)
	if err != nil {
		return nil, fmt.Errorf("engine: client: %w", err)
	}
	if _, err := api.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
		api.Close()
		return nil, fmt.Errorf("engine: ping %s: %w", api.DaemonHost(), err)
	}
	return &Client{api: api}, nil
}

// Close releases the client's connections.
func (c *Client) Close() error { return c.api.Close() }

// Version is what the daemon reports about itself.
type Version struct {
	Version    string // engine version, e.g. "20.10.24"
	APIVersion string // highest API version the daemon supports
	OS, Arch   string
}

// Version asks the daemon for its version.
func (c *Client) Version(ctx context.Context) (Version, error) {
	v, err := c.api.ServerVersion(ctx, client.ServerVersionOptions{})
	if err != nil {
		return Version{}, fmt.Errorf("engine: version: %w", err)
	}
	return Version{Version: v.Version, APIVersion: v.APIVersion, OS: v.Os, Arch: v.Arch}, nil
}

// Info is the part of the daemon's system information the wizard uses.
type Info struct {
	DockerRootDir string // where images, containers and volumes live
	NCPU          int
	MemTotal      int64
	OSType        string
	Architecture  string // e.g. "x86_64"

	// The proxy the daemon itself uses for pulls, from its own environment
	// (not carto-setup's); the daemon masks any password in them.
	HTTPProxy, HTTPSProxy, NoProxy string
	// InsecureRegistryCIDRs are the networks whose registries the daemon
	// reaches over plain HTTP (by default 127.0.0.0/8); InsecureRegistries
	// are the registry names configured as insecure.
	InsecureRegistryCIDRs []string
	InsecureRegistries    []string
	Mirrors               []string
}

// Info asks the daemon for its system information.
func (c *Client) Info(ctx context.Context) (Info, error) {
	r, err := c.api.Info(ctx, client.InfoOptions{})
	if err != nil {
		return Info{}, fmt.Errorf("engine: info: %w", err)
	}
	info := Info{
		DockerRootDir: r.Info.DockerRootDir, NCPU: r.Info.NCPU, MemTotal: r.Info.MemTotal, OSType: r.Info.OSType,
		Architecture: r.Info.Architecture,
		HTTPProxy:    r.Info.HTTPProxy, HTTPSProxy: r.Info.HTTPSProxy, NoProxy: r.Info.NoProxy,
	}
	if rc := r.Info.RegistryConfig; rc != nil {
		for _, p := range rc.InsecureRegistryCIDRs {
			info.InsecureRegistryCIDRs = append(info.InsecureRegistryCIDRs, p.String())
		}
		for name, ic := range rc.IndexConfigs {
			if ic != nil && !ic.Secure {
				info.InsecureRegistries = append(info.InsecureRegistries, name)
			}
		}
		slices.Sort(info.InsecureRegistries)
		info.Mirrors = rc.Mirrors
	}
	return info, nil
}
