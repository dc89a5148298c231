package app

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/carto-setup/carto-setup/internal/domaincheck"
	"github.com/carto-setup/carto-setup/internal/engine"
	"github.com/carto-setup/carto-setup/internal/images"
)

// newPort80Binder returns how the wizard answers on port 80: by binding
// addr itself when it may, or else through a short-lived relay container
// built FROM scratch from this very executable and publishing the port, so
// an ordinary user in the docker group never needs root. The Docker Engine
// is reached only when the fallback is needed, so start-up never waits on
// it. The returned function releases the engine client, if one was made.
func newPort80Binder(addr string, log *slog.Logger) (domaincheck.Port80, func()) {
	_, p, _ := net.SplitHostPort(addr)
	port, _ := strconv.Atoi(p)
	fb := &containerFallback{port: port, log: log}
	return domaincheck.FallbackPort80{Primary: domaincheck.DirectPort80{Addr: addr}, Fallback: fb}, fb.close
}

// containerFallback connects to the engine on its first use.
type containerFallback struct {
	port int
	log  *slog.Logger
	eng  *engine.Client
}

func (c *containerFallback) Start(ctx context.Context, handler http.Handler) (func(), error) {
	if c.eng == nil {
		eng, err := engine.New(ctx)
		if err != nil {
			return nil, err
		}
		c.eng = eng
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cp := &domaincheck.ContainerPort80{Engine: c.eng, Binary: exe, HostPort: c.port, Log: c.log,
		Built: func(ctx context.Context, image string) {
			// A new carto-setup built a new relay image: the old ones go.
			removed, err := images.PruneBuilt(ctx, c.eng, image, time.Now())
			if err != nil {
				c.log.Warn("could not prune old relay images", "err", err)
			} else if len(removed) > 0 {
				c.log.Info("pruned superseded relay images", "images", removed)
			}
		}}
	return cp.Start(ctx, handler)
}

func (c *containerFallback) close() {
	if c.eng != nil {
		c.eng.Close()
	}
}
