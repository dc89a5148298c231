package ociregistry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/registry"
	"golang.org/x/time/rate"
)

// Options configure a Server.
type Options struct {
	// Username and Password, when set, are required (HTTP basic auth) on
	// every request, as a private registry would.
	Username, Password string
	// Rate bounds the bytes per second of all blob downloads together;
	// 0 means unbounded. SetRate changes it while running.
	Rate int64
	// BlobDir keeps the blobs on disk there; "" keeps them in memory.
	// Manifests are always kept in memory.
	BlobDir string
}

// Server is a running registry.
type Server struct {
	// Host is "127.0.0.1:<port>", the registry part of image names.
	Host string

	opts    Options
	handler http.Handler
	limiter *rate.Limiter

	mu      sync.Mutex
	srv     *http.Server
	stopped bool

	blobBytes   atomic.Int64 // blob bytes written to clients
	blobGets    atomic.Int64
	manifestReq atomic.Int64
}

// chunk is the unit in which throttled blob bytes are written.
const chunk = 32 << 10

// Listen serves a registry on addr, a loopback address ("127.0.0.1:0"
// picks a free port), until Close.
func Listen(addr string, opts Options) (*Server, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("ociregistry: listen on %s: %w", addr, err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("ociregistry: listen on %s: only a loopback address is allowed", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("ociregistry: %w", err)
	}
	ropts := []registry.Option{registry.Logger(log.New(io.Discard, "", 0))}
	if opts.BlobDir != "" {
		ropts = append(ropts, registry.WithBlobHandler(registry.NewDiskBlobHandler(opts.BlobDir)))
	}
	s := &Server{
		Host:    ln.Addr().String(),
		opts:    opts,
		handler: registry.New(ropts...),
		limiter: rate.NewLimiter(rate.Inf, chunk),
	}
	s.SetRate(opts.Rate)
	s.serve(ln)
	return s, nil
}

// Ref returns the image name path (e.g. "carto-standin/standin:1") under
// this registry.
func (s *Server) Ref(path string) string { return s.Host + "/" + path }

// SetRate changes the download bound (bytes per second; 0 unbounded).
func (s *Server) SetRate(bytesPerSecond int64) {
	if bytesPerSecond <= 0 {
		s.limiter.SetLimit(rate.Inf)
		return
	}
	s.limiter.SetLimit(rate.Limit(bytesPerSecond))
}

func (s *Server) serve(ln net.Listener) {
	srv := &http.Server{Handler: http.HandlerFunc(s.serveHTTP), ReadHeaderTimeout: 10 * time.Second}
	s.mu.Lock()
	s.srv, s.stopped = srv, false
	s.mu.Unlock()
	go srv.Serve(ln)
}

// Close closes the listener and every open connection at once, the way a
// registry that goes away mid-transfer looks to a client. The content is
// kept for Reopen. Safe to call twice.
func (s *Server) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return nil
	}
	s.stopped = true
	return s.srv.Close()
}

// Reopen serves the same content on the same address again after Close.
// The port was just released; it retries for a few seconds while another
// socket still holds it.
func (s *Server) Reopen() error {
	var ln net.Listener
	var err error
	for range 50 {
		if ln, err = net.Listen("tcp", s.Host); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("ociregistry: listen again on %s: %w", s.Host, err)
	}
	s.serve(ln)
	return nil
}

// BlobBytes is the number of blob bytes sent to clients so far.
func (s *Server) BlobBytes() int64 { return s.blobBytes.Load() }

// BlobGets is the number of blob downloads started so far.
func (s *Server) BlobGets() int64 { return s.blobGets.Load() }

// ManifestRequests is the number of manifest requests (GET or HEAD) so far.
func (s *Server) ManifestRequests() int64 { return s.manifestReq.Load() }

func (s *Server) serveHTTP(w http.ResponseWriter, req *http.Request) {
	if s.opts.Username != "" {
		u, p, ok := req.BasicAuth()
		if !ok || u != s.opts.Username || p != s.opts.Password {
			w.Header().Set("WWW-Authenticate", `Basic realm="carto-setup"`)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`)
			return
		}
	}
	if strings.Contains(req.URL.Path, "/manifests/") {
		s.manifestReq.Add(1)
	}
	if req.Method == http.MethodGet && strings.Contains(req.URL.Path, "/blobs/sha256:") {
		s.blobGets.Add(1)
		w = &meteredWriter{ResponseWriter: w, s: s, ctx: req.Context()}
	}
	s.handler.ServeHTTP(w, req)
}

// meteredWriter counts and throttles what a blob download writes.
type meteredWriter struct {
	http.ResponseWriter
	s   *Server
	ctx context.Context
}

func (m *meteredWriter) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		n := min(len(p), chunk)
		if err := m.s.limiter.WaitN(m.ctx, n); err != nil {
			return written, fmt.Errorf("ociregistry: throttle: %w", err)
		}
		k, err := m.ResponseWriter.Write(p[:n])
		written += k
		m.s.blobBytes.Add(int64(k))
		if err != nil {
			return written, err
		}
		if f, ok := m.ResponseWriter.(http.Flusher); ok {
			f.Flush()
		}
		p = p[n:]
	}
	return written, nil
}

// ReadFrom keeps io.Copy on Write, so every byte is throttled.
func (m *meteredWriter) ReadFrom(src io.Reader) (int64, error) {
	var total int64
	buf := make([]byte, chunk)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			k, werr := m.Write(buf[:n])
			total += int64(k)
			if werr != nil {
				return total, werr
			}
		}
		if errors.Is(err, io.EOF) {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// Keychain returns credentials for this registry only: its login when it
// requires one, anonymous access otherwise (and for every other registry).
func (s *Server) Keychain() authn.Keychain {
	return keychain{host: s.Host, user: s.opts.Username, pass: s.opts.Password}
}

// Auth returns the login to push with (anonymous when none is required).
func (s *Server) Auth() authn.Authenticator {
	if s.opts.Username == "" {
		return authn.Anonymous
	}
	return &authn.Basic{Username: s.opts.Username, Password: s.opts.Password}
}

type keychain struct{ host, user, pass string }

func (k keychain) Resolve(res authn.Resource) (authn.Authenticator, error) {
	if res.RegistryStr() != k.host || k.user == "" {
		return authn.Anonymous, nil
	}
	return &authn.Basic{Username: k.user, Password: k.pass}, nil
}
