package app

import (
	"context"
	"log/slog"

	"github.com/carto-setup/carto-setup/internal/config"
	"github.com/carto-setup/carto-setup/internal/engine"
	"github.com/carto-setup/carto-setup/internal/stats"
	"github.com/carto-setup/carto-setup/internal/status"
)

// startStatus builds the Status page's reader and starts the sampler of
// the project's CPU and memory use, which runs until ctx ends; stop closes
// the engine client. Without Docker the page says so.
func startStatus(ctx context.Context, cfg config.Config, log *slog.Logger) (*status.Reader, func()) {
	r := &status.Reader{Project: cfg.Project, ReleaseDir: cfg.Dir}
	eng, err := engine.New(ctx)
	if err != nil {
		log.Warn("status page: Docker Engine not reachable", "err", err)
		r.EngineErr = err
		return r, func() {}
	}
	r.Engine = eng
	sampler := stats.New(eng, cfg.Project, stats.Options{})
	r.Usage = sampler
	go sampler.Run(ctx)
	return r, func() { eng.Close() }
}
