package app

import (
	"context"
	"log/slog"
	"net"
	"os"
	"strconv"

	"github.com/carto-setup/carto-setup/internal/domaincheck"
	"github.com/carto-setup/carto-setup/internal/engine"
)

// newPort80Binder returns how the wizard answers on port 80: by binding
// addr itself when it may, or else through a short-lived relay container
// built FROM scratch from this very executable and publishing the port, so
// an ordinary user in the docker group never needs root. The returned
// function releases the engine client.
func newPort80Binder(ctx context.Context, addr string, log *slog.Logger) (domaincheck.Port80, func()) {
	direct := domaincheck.DirectPort80{Addr: addr}
	exe, err := os.Executable()
	if err != nil {
		return direct, func() {}
	}
	eng, err := engine.New(ctx)
	if err != nil {
		log.Info("no Docker Engine: port 80 only by binding it", "err", err)
		return direct, func() {}
	}
	_, p, _ := net.SplitHostPort(addr)
	port, _ := strconv.Atoi(p)
	return domaincheck.FallbackPort80{Primary: direct, Fallback: &domaincheck.ContainerPort80{
		Engine: eng, Binary: exe, HostPort: port, Log: log}}, func() { eng.Close() }
}
