package app

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/carto-setup/carto-setup/internal/domaincheck"
)

// port80 keeps the wizard's plain-HTTP listener (domain nonces, and later
// ACME challenges) open while a step needs it, and closes it after a quiet
// period so the CARTO router can take the port.
type port80 struct {
	log     *slog.Logger
	binder  domaincheck.Port80
	handler http.Handler
	idle    time.Duration

	mu    sync.Mutex
	stop  func()
	timer *time.Timer
}

// Ensure opens the listener if it is not open and restarts the idle timer.
func (p *port80) Ensure(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stop == nil {
		// The listener must outlive the request that opened it.
		stop, err := p.binder.Start(context.WithoutCancel(ctx), p.handler)
		if err != nil {
			return err
		}
		p.stop = stop
		p.log.Info("port 80 open for domain checks")
	}
	if p.timer != nil {
		p.timer.Stop()
	}
	p.timer = time.AfterFunc(p.idle, p.Close)
	return nil
}

// Close releases the port; it is safe to call at any time.
func (p *port80) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stop != nil {
		p.stop()
		p.stop = nil
		p.log.Info("port 80 released")
	}
	if p.timer != nil {
		p.timer.Stop()
		p.timer = nil
	}
}
