package domaincheck

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"sync"
	"syscall"
	"time"
)

// Port80 serves a handler on port 80 for as long as a check needs it. The
// direct implementation binds the port in this process; another one may
// publish port 80 from a container and forward it to the handler when this
// process may not bind it. Start returns once requests can arrive. stop
// releases the port and waits for the server to finish; it is safe to call
// more than once, and cancelling ctx calls it too.
type Port80 interface {
	Start(ctx context.Context, handler http.Handler) (stop func(), err error)
}

// ListenErrorKind says why port 80 could not be bound.
type ListenErrorKind string

// The reasons a bind can fail. Permission means this process may not bind a
// privileged port (not root, no CAP_NET_BIND_SERVICE): a container that
// publishes the port can still do it. InUse means another program holds the
// port, which a container cannot fix either.
const (
	ListenPermission ListenErrorKind = "permission"
	ListenInUse      ListenErrorKind = "in_use"
	ListenOther      ListenErrorKind = "other"
)

// ListenError is returned by Start when the port cannot be bound.
type ListenError struct {
	Addr string
	Kind ListenErrorKind
	Err  error
}

func (e *ListenError) Error() string {
	return fmt.Sprintf("domaincheck: listen on %s: %v", e.Addr, e.Err)
}

func (e *ListenError) Unwrap() error { return e.Err }

// DirectPort80 binds port 80 in this process.
type DirectPort80 struct {
	// Addr is the address to bind, ":80" (every address) when empty.
	Addr string
}

// Start binds the port and serves handler on it with bounded timeouts. A
// failure to bind is a *ListenError.
func (p DirectPort80) Start(ctx context.Context, handler http.Handler) (func(), error) {
	addr := p.Addr
	if addr == "" {
		addr = ":80"
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, listenError(addr, err)
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		IdleTimeout:       30 * time.Second,
		MaxHeaderBytes:    16 << 10,
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(ln) // returns http.ErrServerClosed once stop runs
	}()

	var once sync.Once
	shutdown := func() {
		once.Do(func() {
			shutCtx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			if srv.Shutdown(shutCtx) != nil {
				srv.Close()
			}
			<-done
		})
	}
	unwatch := context.AfterFunc(ctx, shutdown)
	return func() { unwatch(); shutdown() }, nil
}

// listenError classifies a failed bind.
func listenError(addr string, err error) *ListenError {
	kind := ListenOther
	switch {
	case errors.Is(err, fs.ErrPermission), errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM):
		kind = ListenPermission
	case errors.Is(err, syscall.EADDRINUSE):
		kind = ListenInUse
	}
	return &ListenError{Addr: addr, Kind: kind, Err: err}
}
