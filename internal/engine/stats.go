package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
)

// Stats is one sample of a container's resource use from the stats API.
type Stats struct {
	Read       time.Time // when the daemon took the sample; zero for a container that is not running
	CPUTotal   uint64    // CPU time the container has used since it started, in ns
	SystemCPU  uint64    // CPU time the host has used, all CPUs, in ns
	OnlineCPUs int
	// MemoryUsed is the usage less the inactive page cache, which the
	// kernel reclaims first: what docker stats shows.
	MemoryUsed  uint64
	MemoryLimit uint64
}

// ContainerStats takes one sample of a container's CPU and memory use.
// It asks for a one-shot sample, which the daemon (API 1.41, Docker 20.10,
// and later) answers at once instead of collecting a second sample a
// second later; CPU use is the difference between two calls.
func (c *Client) ContainerStats(ctx context.Context, id string) (Stats, error) {
	res, err := c.api.ContainerStats(ctx, id, client.ContainerStatsOptions{})
	if err != nil {
		return Stats{}, fmt.Errorf("engine: stats of %s: %w", id, err)
	}
	defer res.Body.Close()
	var r container.StatsResponse
	if err := json.NewDecoder(res.Body).Decode(&r); err != nil {
		return Stats{}, fmt.Errorf("engine: stats of %s: %w", id, err)
	}
	return statsFrom(r), nil
}

// StreamStats follows a container's stats stream, one sample a second as
// the daemon sends them, calling fn with each until fn returns false, ctx
// ends or the container stops. Sampling uses ContainerStats; this exists to
// measure the two against each other (see internal/stats).
func (c *Client) StreamStats(ctx context.Context, id string, fn func(Stats) bool) error {
	res, err := c.api.ContainerStats(ctx, id, client.ContainerStatsOptions{Stream: true})
	if err != nil {
		return fmt.Errorf("engine: stats stream of %s: %w", id, err)
	}
	defer res.Body.Close()
	dec := json.NewDecoder(res.Body)
	for {
		var r container.StatsResponse
		if err := dec.Decode(&r); err != nil {
			if errors.Is(err, io.EOF) || ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("engine: stats stream of %s: %w", id, err)
		}
		if !fn(statsFrom(r)) {
			return nil
		}
	}
}

// statsFrom reduces the daemon's answer to what the charts need. Memory
// follows docker stats: cgroup v1 reports total_inactive_file, v2
// inactive_file.
func statsFrom(r container.StatsResponse) Stats {
	s := Stats{
		Read:        r.Read,
		CPUTotal:    r.CPUStats.CPUUsage.TotalUsage,
		SystemCPU:   r.CPUStats.SystemUsage,
		OnlineCPUs:  int(r.CPUStats.OnlineCPUs),
		MemoryUsed:  r.MemoryStats.Usage,
		MemoryLimit: r.MemoryStats.Limit,
	}
	if s.OnlineCPUs == 0 {
		s.OnlineCPUs = len(r.CPUStats.CPUUsage.PercpuUsage)
	}
	cache, ok := r.MemoryStats.Stats["total_inactive_file"]
	if !ok {
		cache = r.MemoryStats.Stats["inactive_file"]
	}
	if cache < s.MemoryUsed {
		s.MemoryUsed -= cache
	}
	if s.Read.Year() < 2000 {
		s.Read = time.Time{} // "0001-01-01T00:00:00Z": not running
	}
	return s
}
