package standin

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"html"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"
)

// backendHandler answers like a CARTO backend: GET /health answers 200 only
// with the header "Carto-Monitoring: true" (the probe CARTO's tooling
// sends) and 404 without it, as if the route were not there for the public;
// the web apps also answer every other GET with a small HTML page.
func backendHandler(name string, k kind, cfg config, lg *logger, served *atomic.Int64) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Carto-Monitoring") != "true" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"status":"ok","service":%q,"version":%q}`+"\n", name, cfg.version)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if k != kindWWW || (r.Method != http.MethodGet && r.Method != http.MethodHead) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprintf(w, `{"error":"not found","service":%q}`+"\n", name)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>CARTO stand-in: %[1]s</title></head>
<body><h1>CARTO stand-in: %[1]s</h1>
<p>Version %[2]s for tenant %[3]s on https://%[4]s/.</p>
<p>This page is served by carto-setup's stand-in release, not by CARTO.</p>
</body></html>
`, html.EscapeString(name), html.EscapeString(cfg.version), html.EscapeString(cfg.tenant), html.EscapeString(cfg.domain))
	})
	return logRequests(mux, lg, served)
}

// logRequests logs every request and counts them for the heartbeat.
func logRequests(next http.Handler, lg *logger, served *atomic.Int64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		start := time.Now()
		next.ServeHTTP(sw, r)
		served.Add(1)
		lg.info("request", "method", r.Method, "path", r.URL.Path, "status", sw.status,
			"duration", time.Since(start).String(), "remote", r.RemoteAddr)
	})
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(status int) {
	w.status = status
	w.ResponseWriter.WriteHeader(status)
}

// Unwrap lets http.ResponseController and the reverse proxy reach the
// underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// serveBackend plays an API, worker or web app: it listens on port and logs
// a heartbeat until ctx ends.
func serveBackend(ctx context.Context, name string, k kind, port int, cfg config, lg *logger, interval time.Duration) error {
	var served atomic.Int64
	ln, err := net.Listen("tcp", ":"+strconv.Itoa(port))
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	lg.info("listening", "addr", ln.Addr().String(), "health", "GET /health with Carto-Monitoring: true")
	srv := newServer(backendHandler(name, k, cfg, lg, &served))
	return serveUntil(ctx, lg, interval, &served, serverListener{srv, ln})
}

// newServer returns an http.Server with the timeouts every server sets.
func newServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
}

// serverListener pairs a server with its listener; a server with a
// TLSConfig serves TLS.
type serverListener struct {
	srv *http.Server
	ln  net.Listener
}

// serveUntil runs the servers and the heartbeat until ctx ends or a server
// fails, then shuts the servers down with a short deadline.
func serveUntil(ctx context.Context, lg *logger, interval time.Duration, served *atomic.Int64, servers ...serverListener) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, len(servers))
	for _, s := range servers {
		go func() {
			var err error
			if s.srv.TLSConfig != nil {
				err = s.srv.Serve(tls.NewListener(s.ln, s.srv.TLSConfig))
			} else {
				err = s.srv.Serve(s.ln)
			}
			if errors.Is(err, http.ErrServerClosed) {
				err = nil
			}
			errc <- err
			cancel()
		}()
	}
	heartbeat(ctx, lg, interval, served.Load)
	shutdownCtx, stop := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer stop()
	for _, s := range servers {
		s.srv.Shutdown(shutdownCtx)
	}
	var first error
	for range servers {
		if err := <-errc; err != nil && first == nil {
			first = fmt.Errorf("serve: %w", err)
		}
	}
	return first
}
