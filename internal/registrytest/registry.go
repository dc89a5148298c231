package registrytest

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
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/registry"
	"golang.org/x/time/rate"
)

// Options configure a Registry.
type Options struct {
	// Username and Password, when set, are required (HTTP basic auth) on
	// every request, as a private registry would.
	Username, Password string
	// Rate bounds the bytes per second of all blob downloads together;
	// 0 means unbounded. SetRate changes it while running.
	Rate int64
}

// Registry is a running in-process registry.
type Registry struct {
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

// Start runs a registry on a free loopback port until the test ends.
func Start(t testing.TB, opts Options) *Registry {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("registrytest: listen: %v", err)
	}
	r := &Registry{
		Host:    ln.Addr().String(),
		opts:    opts,
		handler: registry.New(registry.Logger(log.New(io.Discard, "", 0))),
		limiter: rate.NewLimiter(rate.Inf, chunk),
	}
	r.SetRate(opts.Rate)
	r.serve(ln)
	t.Cleanup(r.Stop)
	return r
}

// chunk is the unit in which throttled blob bytes are written.
const chunk = 32 << 10

// Ref returns the image name path (e.g. "carto-standin/standin:1") under
// this registry.
func (r *Registry) Ref(path string) string { return r.Host + "/" + path }

// SetRate changes the download bound (bytes per second; 0 unbounded).
func (r *Registry) SetRate(bytesPerSecond int64) {
	if bytesPerSecond <= 0 {
		r.limiter.SetLimit(rate.Inf)
		return
	}
	r.limiter.SetLimit(rate.Limit(bytesPerSecond))
}

func (r *Registry) serve(ln net.Listener) {
	srv := &http.Server{Handler: http.HandlerFunc(r.serveHTTP), ReadHeaderTimeout: 10 * time.Second}
	r.mu.Lock()
	r.srv, r.stopped = srv, false
	r.mu.Unlock()
	go srv.Serve(ln)
}

// Stop closes the listener and every open connection at once, the way a
// registry that goes away mid-transfer looks to a client. Safe to call
// twice.
func (r *Registry) Stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped {
		return
	}
	r.stopped = true
	r.srv.Close()
}

// Restart serves the same content on the same address again after Stop.
func (r *Registry) Restart(t testing.TB) {
	t.Helper()
	var ln net.Listener
	var err error
	// The port was just released; a moment may pass before it is free.
	for range 50 {
		if ln, err = net.Listen("tcp", r.Host); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("registrytest: listen again on %s: %v", r.Host, err)
	}
	r.serve(ln)
}

// BlobBytes is the number of blob bytes sent to clients so far.
func (r *Registry) BlobBytes() int64 { return r.blobBytes.Load() }

// BlobGets is the number of blob downloads started so far.
func (r *Registry) BlobGets() int64 { return r.blobGets.Load() }

// ManifestRequests is the number of manifest requests (GET or HEAD) so far.
func (r *Registry) ManifestRequests() int64 { return r.manifestReq.Load() }

func (r *Registry) serveHTTP(w http.ResponseWriter, req *http.Request) {
	if r.opts.Username != "" {
		u, p, ok := req.BasicAuth()
		if !ok || u != r.opts.Username || p != r.opts.Password {
			w.Header().Set("WWW-Authenticate", `Basic realm="registrytest"`)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`)
			return
		}
	}
	if strings.Contains(req.URL.Path, "/manifests/") {
		r.manifestReq.Add(1)
	}
	if req.Method == http.MethodGet && strings.Contains(req.URL.Path, "/blobs/sha256:") {
		r.blobGets.Add(1)
		w = &meteredWriter{ResponseWriter: w, r: r, ctx: req.Context()}
	}
	r.handler.ServeHTTP(w, req)
}

// meteredWriter counts and throttles what a blob download writes.
type meteredWriter struct {
	http.ResponseWriter
	r   *Registry
	ctx context.Context
}

func (m *meteredWriter) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		n := min(len(p), chunk)
		if err := m.r.limiter.WaitN(m.ctx, n); err != nil {
			return written, fmt.Errorf("registrytest: throttle: %w", err)
		}
		k, err := m.ResponseWriter.Write(p[:n])
		written += k
		m.r.blobBytes.Add(int64(k))
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
// Tests pass it instead of Docker's config.json, which they must not read.
func (r *Registry) Keychain() authn.Keychain {
	return keychain{host: r.Host, user: r.opts.Username, pass: r.opts.Password}
}

type keychain struct{ host, user, pass string }

func (k keychain) Resolve(res authn.Resource) (authn.Authenticator, error) {
	if res.RegistryStr() != k.host || k.user == "" {
		return authn.Anonymous, nil
	}
	return &authn.Basic{Username: k.user, Password: k.pass}, nil
}
