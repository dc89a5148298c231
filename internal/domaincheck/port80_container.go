package domaincheck

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/carto-setup/carto-setup/internal/engine"
)

// FallbackPort80 binds port 80 with Primary and, only when that fails
// because this process may not bind it (ListenPermission), with Fallback.
// Any other failure, a port held by another program above all, is returned
// as it is: a container cannot fix it.
type FallbackPort80 struct {
	Primary  Port80 // usually DirectPort80
	Fallback Port80 // usually *ContainerPort80; nil means no fallback
}

// Start starts Primary, then Fallback as described on FallbackPort80. When
// both fail the error wraps both, Fallback's first: errors.As finds
// Fallback's *ListenError when it has one (port 80 held by another program)
// and Primary's ListenPermission otherwise.
func (p FallbackPort80) Start(ctx context.Context, handler http.Handler) (func(), error) {
	stop, err := p.Primary.Start(ctx, handler)
	var le *ListenError
	if err == nil || p.Fallback == nil || !errors.As(err, &le) || le.Kind != ListenPermission {
		return stop, err
	}
	stop, ferr := p.Fallback.Start(ctx, handler)
	if ferr != nil {
		return nil, fmt.Errorf("%w; %w", ferr, err)
	}
	return stop, nil
}

// ContainerEngine is what ContainerPort80 needs of the Docker Engine;
// *engine.Client has it.
type ContainerEngine interface {
	DefaultBridge(ctx context.Context) (engine.Bridge, error)
	ImageExists(ctx context.Context, ref string) (bool, error)
	BuildImage(ctx context.Context, tag string, files map[string]engine.BuildFile, dockerfile string, progress io.Writer) error
	LabeledContainers(ctx context.Context, key, value string) ([]engine.ContainerInfo, error)
	CreateContainer(ctx context.Context, spec engine.ContainerSpec) (string, error)
	WaitContainer(ctx context.Context, id string) <-chan engine.ContainerExit
	StartContainer(ctx context.Context, id string) error
	RemoveContainer(ctx context.Context, id string) error
	LastLogLines(ctx context.Context, id string, n int) (string, error)
}

// LabelPort80 marks the relay containers ContainerPort80 creates; its value
// is the published host port. Start removes leftovers carrying it (from a
// wizard that crashed), since they would hold the port.
const LabelPort80 = "io.carto-setup.port80"

// Port80Dockerfile is the relay image's recipe: the static carto-setup
// executable alone, whose hidden "relay" subcommand forwards TCP.
const Port80Dockerfile = `FROM scratch
COPY carto-setup /carto-setup
LABEL org.opencontainers.image.title="carto-setup port 80 relay" \
      org.opencontainers.image.description="Forwards port 80 to the carto-setup wizard during domain and ACME checks"
ENTRYPOINT ["/carto-setup", "relay"]
`

// relayPort is where the relay listens inside its container; an
// unprivileged port, so the container needs no capability at all.
const relayPort = 8080

// ContainerPort80 answers on port 80 without binding it in this process:
// it serves the handler on a high port of the Docker bridge and runs a
// short-lived container, built locally FROM scratch from the wizard's own
// static executable, that publishes port 80 and relays each connection to
// it. Nothing is pulled and the wizard never needs root, only access to the
// Docker Engine. The container is unprivileged, read-only and removed by
// stop.
type ContainerPort80 struct {
	Engine ContainerEngine
	// Binary is the static carto-setup executable to put in the image
	// (os.Executable() in production); it must have the "relay"
	// subcommand.
	Binary string
	// HostPort is the published port, 80 when zero.
	HostPort int
	// ListenHost is the address this process listens on for the relay;
	// empty means the bridge gateway (e.g. 172.17.0.1), which only the host
	// and its containers reach. A wildcard (0.0.0.0) also works; the relay
	// then dials the gateway.
	ListenHost string
	// Image is the relay image reference; empty means
	// "carto-setup-port80:<first 12 hex digits of the binary's SHA-256>",
	// so a new binary gets a new image and an unchanged one is built once.
	Image string
	// ReadyTimeout bounds the wait for the first request to come through
	// the container; 20s when zero.
	ReadyTimeout time.Duration
	// Log receives a line when the container starts and stops; nil
	// discards them.
	Log *slog.Logger
	// Built, when set, is told of a relay image just built (not of one
	// found on the engine), so that older ones can be pruned.
	Built func(ctx context.Context, image string)
}

// Start serves handler on HostPort through the relay container and returns
// once a request has made the whole trip (host port, container, this
// process). A port held by another program is a *ListenError of kind
// ListenInUse; other failures are ordinary errors.
func (p *ContainerPort80) Start(ctx context.Context, handler http.Handler) (func(), error) {
	stop, err := p.start(ctx, handler)
	if err != nil {
		var le *ListenError
		if errors.As(err, &le) {
			return nil, err
		}
		return nil, fmt.Errorf("domaincheck: port 80 through a container: %w", err)
	}
	return stop, nil
}

func (p *ContainerPort80) start(ctx context.Context, handler http.Handler) (func(), error) {
	if p.Engine == nil || p.Binary == "" {
		return nil, errors.New("no Docker Engine or no executable to build the relay from")
	}
	hostPort := p.HostPort
	if hostPort == 0 {
		hostPort = 80
	}
	log := p.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	readyTimeout := p.ReadyTimeout
	if readyTimeout <= 0 {
		readyTimeout = 20 * time.Second
	}
	exe, err := readStatic(p.Binary)
	if err != nil {
		return nil, err
	}
	image := p.Image
	if image == "" {
		sum := sha256.Sum256(exe)
		image = "carto-setup-port80:" + hex.EncodeToString(sum[:6])
	}

	bridge, err := p.Engine.DefaultBridge(ctx)
	if err != nil {
		return nil, err
	}
	listenHost, target := p.ListenHost, bridge.Gateway.String()
	if listenHost == "" {
		listenHost = target
	} else if ip, err := netip.ParseAddr(listenHost); err == nil && !ip.IsUnspecified() {
		target = listenHost
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", net.JoinHostPort(listenHost, "0"))
	if err != nil {
		return nil, fmt.Errorf("listen for the relay: %w", err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	target = net.JoinHostPort(target, port)

	token := make([]byte, 16)
	rand.Read(token)
	readyPath := NoncePath + "ready-" + hex.EncodeToString(token)
	srv := &http.Server{
		Handler:           readyHandler(readyPath, handler),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		IdleTimeout:       30 * time.Second,
		MaxHeaderBytes:    16 << 10,
	}
	pln := newProxyListener(ln)
	served := make(chan struct{})
	go func() {
		defer close(served)
		srv.Serve(pln) // returns once the listener is closed
	}()
	// From here on everything started is undone by release, on failure
	// now or by stop later.
	var containerID string
	// The wait for the container's exit lasts as long as the container.
	waitCtx, waitCancel := context.WithCancel(context.WithoutCancel(ctx))
	release := func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 20*time.Second)
		defer cancel()
		if containerID != "" {
			if err := p.Engine.RemoveContainer(rctx, containerID); err != nil {
				log.Warn("port 80 relay container not removed", "id", containerID, "error", err.Error())
			} else {
				log.Info("port 80 relay container removed", "id", containerID)
			}
		}
		waitCancel()
		sctx, cancel2 := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel2()
		if srv.Shutdown(sctx) != nil {
			srv.Close()
		}
		<-served
	}
	fail := func(err error) (func(), error) { release(); return nil, err }

	if err := p.ensureImage(ctx, image, exe); err != nil {
		return fail(err)
	}
	if err := p.removeLeftovers(ctx, hostPort, log); err != nil {
		return fail(err)
	}
	containerID, err = p.Engine.CreateContainer(ctx, engine.ContainerSpec{
		Name:  "carto-setup-port80-" + strconv.Itoa(hostPort),
		Image: image,
		Cmd: []string{
			"--listen", ":" + strconv.Itoa(relayPort),
			"--to", target,
			"--proxy-header",
			// A relay whose wizard died stops (and AutoRemove removes
			// it) instead of holding port 80.
			"--watch", "30s",
			"--max-conns", "64",
			"--idle-timeout", "30s",
		},
		Labels:     map[string]string{LabelPort80: strconv.Itoa(hostPort)},
		User:       "65534:65534",
		Publish:    []engine.PublishedPort{{ContainerPort: relayPort, HostPort: hostPort}},
		AutoRemove: true,
		Memory:     64 << 20,
		Pids:       64,
	})
	if err != nil {
		return fail(err)
	}
	exited := p.Engine.WaitContainer(waitCtx, containerID)
	if err := p.Engine.StartContainer(ctx, containerID); err != nil {
		if portTaken(err) {
			return fail(&ListenError{Addr: ":" + strconv.Itoa(hostPort), Kind: ListenInUse, Err: err})
		}
		return fail(err)
	}
	if err := awaitReady(ctx, hostPort, readyPath, readyTimeout, exited); err != nil {
		return fail(fmt.Errorf("%w%s", err, p.lastLog(ctx, containerID, target, errors.Is(err, errNoAnswer))))
	}
	log.Info("port 80 answered through a relay container", "id", containerID, "image", image, "host_port", hostPort, "to", target)

	var once sync.Once
	shutdown := func() { once.Do(release) }
	unwatch := context.AfterFunc(ctx, shutdown)
	return func() { unwatch(); shutdown() }, nil
}

// readStatic reads the executable to put in the image, refusing one that
// needs a dynamic loader: it would not start in a FROM scratch image, and
// the failure there is obscure.
func readStatic(path string) ([]byte, error) {
	exe, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read the relay executable: %w", err)
	}
	f, err := elf.NewFile(bytes.NewReader(exe))
	if err != nil {
		return nil, fmt.Errorf("%s is not a Linux executable: %w", path, err)
	}
	defer f.Close()
	for _, prog := range f.Progs {
		if prog.Type == elf.PT_INTERP {
			return nil, fmt.Errorf("%s is dynamically linked; build it with CGO_ENABLED=0", path)
		}
	}
	return exe, nil
}

// ensureImage builds the relay image unless the daemon already has it.
func (p *ContainerPort80) ensureImage(ctx context.Context, image string, exe []byte) error {
	ok, err := p.Engine.ImageExists(ctx, image)
	if err != nil || ok {
		return err
	}
	if err := p.Engine.BuildImage(ctx, image, map[string]engine.BuildFile{
		"carto-setup": {Data: exe, Mode: 0o755},
	}, Port80Dockerfile, nil); err != nil {
		return err
	}
	if p.Built != nil {
		p.Built(ctx, image)
	}
	return nil
}

// removeLeftovers removes relay containers for the same host port that an
// earlier run left behind.
func (p *ContainerPort80) removeLeftovers(ctx context.Context, hostPort int, log *slog.Logger) error {
	old, err := p.Engine.LabeledContainers(ctx, LabelPort80, strconv.Itoa(hostPort))
	if err != nil {
		return err
	}
	for _, c := range old {
		log.Info("removing a leftover port 80 relay container", "id", c.ID, "name", c.Name)
		if err := p.Engine.RemoveContainer(ctx, c.ID); err != nil {
			return err
		}
	}
	return nil
}

// portTaken reports whether the daemon failed to publish the port because
// something else holds it. The daemon says so only in its message text
// ("port is already allocated" when another container has it, "address
// already in use" from the host), so this is the one place that reads it.
func portTaken(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "address already in use") || strings.Contains(msg, "port is already allocated")
}

// readyHeader marks the answer to the readiness request, so that another
// server answering on the port cannot pass for the relay.
const readyHeader = "Carto-Setup-Relay"

// readyHandler answers the readiness path itself and passes everything
// else to next.
func readyHandler(path string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == path {
			w.Header().Set(readyHeader, "ready")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// errNoAnswer is awaitReady's error when the relay runs but nothing came
// back through it in time.
var errNoAnswer = errors.New("no answer through the relay")

// awaitReady requests the readiness path through the published port until
// it answers, the container exits or the timeout passes.
func awaitReady(ctx context.Context, hostPort int, path string, timeout time.Duration, exited <-chan engine.ContainerExit) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	hc := &http.Client{
		Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true},
		Timeout:   2 * time.Second,
	}
	url := "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(hostPort)) + path
	var last error
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := hc.Do(req)
		if err == nil {
			io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<10))
			resp.Body.Close()
			if resp.StatusCode == http.StatusNoContent && resp.Header.Get(readyHeader) == "ready" {
				return nil
			}
			err = fmt.Errorf("answered %s", resp.Status)
		}
		last = err
		select {
		case exit := <-exited:
			if exit.Err != nil {
				return exit.Err
			}
			return fmt.Errorf("the relay container exited with code %d", exit.Code)
		case <-ctx.Done():
			return fmt.Errorf("%w on port %d within %s (%v)", errNoAnswer, hostPort, timeout, last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// lastLog returns the container's last log lines, which say why its
// connections failed, after the likely cause of a relay that runs but does
// not answer (noAnswer).
func (p *ContainerPort80) lastLog(ctx context.Context, id, target string, noAnswer bool) string {
	msg := ""
	if noAnswer {
		msg = "; a firewall on this VM may drop traffic from the Docker bridge to " + target
	}
	lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	b, err := p.Engine.LastLogLines(lctx, id, 5)
	if err != nil {
		return msg
	}
	if lines := strings.TrimSpace(b); lines != "" {
		msg += "; relay log: " + strings.ReplaceAll(lines, "\r\n", " | ")
	}
	return msg
}

// proxyListener accepts the relay's connections, each of which starts with
// a PROXY protocol v1 line, and hands them on with the client's address as
// RemoteAddr, so a nonce Hit names the client rather than the relay. The
// line is read off the accept path, so one slow connection cannot hold up
// the others; a connection without a valid line is dropped.
type proxyListener struct {
	net.Listener
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func newProxyListener(ln net.Listener) *proxyListener {
	l := &proxyListener{Listener: ln, conns: make(chan net.Conn), done: make(chan struct{})}
	go l.acceptLoop()
	return l
}

func (l *proxyListener) acceptLoop() {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			select {
			case <-l.done:
				return
			case <-time.After(50 * time.Millisecond):
				continue
			}
		}
		go func() {
			pc, err := readProxyLine(c, 5*time.Second)
			if err != nil {
				c.Close()
				return
			}
			select {
			case l.conns <- pc:
			case <-l.done:
				pc.Close()
			}
		}()
	}
}

func (l *proxyListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *proxyListener) Close() error {
	var err error
	l.once.Do(func() {
		close(l.done)
		err = l.Listener.Close()
	})
	return err
}

// proxiedConn is a connection whose peer is the client named in its PROXY
// line.
type proxiedConn struct {
	net.Conn
	remote net.Addr
}

func (c *proxiedConn) RemoteAddr() net.Addr { return c.remote }

// readProxyLine reads a PROXY protocol v1 line (at most 107 bytes) byte by
// byte, so nothing after it is consumed, and returns the connection with
// the client's address. "PROXY UNKNOWN" keeps the relay's address.
func readProxyLine(c net.Conn, timeout time.Duration) (net.Conn, error) {
	c.SetReadDeadline(time.Now().Add(timeout))
	var line []byte
	b := make([]byte, 1)
	for !bytes.HasSuffix(line, []byte("\r\n")) {
		if len(line) >= 107 {
			return nil, errors.New("proxy line too long")
		}
		if _, err := c.Read(b); err != nil {
			return nil, fmt.Errorf("read proxy line: %w", err)
		}
		line = append(line, b[0])
	}
	c.SetReadDeadline(time.Time{})
	remote, err := parseProxyLine(string(line[:len(line)-2]))
	if err != nil {
		return nil, err
	}
	if remote == nil {
		return c, nil
	}
	return &proxiedConn{Conn: c, remote: remote}, nil
}

// parseProxyLine parses "PROXY TCP4|TCP6 src dst sport dport" and returns
// the source, or nil for "PROXY UNKNOWN ...".
func parseProxyLine(line string) (net.Addr, error) {
	f := strings.Split(line, " ")
	if len(f) >= 2 && f[0] == "PROXY" && f[1] == "UNKNOWN" {
		return nil, nil
	}
	if len(f) != 6 || f[0] != "PROXY" || (f[1] != "TCP4" && f[1] != "TCP6") {
		return nil, fmt.Errorf("bad proxy line %q", line)
	}
	ip, err := netip.ParseAddr(f[2])
	if err != nil || ip.Is4() != (f[1] == "TCP4") {
		return nil, fmt.Errorf("bad proxy line %q", line)
	}
	port, err := strconv.ParseUint(f[4], 10, 16)
	if err != nil {
		return nil, fmt.Errorf("bad proxy line %q", line)
	}
	return net.TCPAddrFromAddrPort(netip.AddrPortFrom(ip.Unmap(), uint16(port))), nil
}
