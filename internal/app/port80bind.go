package app

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"

	"github.com/carto-setup/carto-setup/internal/domaincheck"
	"github.com/carto-setup/carto-setup/internal/engine"
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
	cp := &domaincheck.ContainerPort80{Engine: c.eng, Binary: exe, HostPort: c.port, Log: c.log}
	return cp.Start(ctx, handler)
}

func (c *containerFallback) close() {
	if c.eng != nil {
		c.eng.Close()
	}
}
