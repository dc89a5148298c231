package relay

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Config says what a relay listens on, where it forwards to and how it
// bounds the work.
type Config struct {
	// To is the host:port every accepted connection is forwarded to.
	To string
	// MaxConns bounds the connections relayed at once; one more is accepted
	// and closed at once, so a flood cannot exhaust the container.
	MaxConns int
	// IdleTimeout closes a connection on which neither side has sent a byte
	// for this long.
	IdleTimeout time.Duration
	// DialTimeout bounds the connection to To.
	DialTimeout time.Duration
	// ProxyHeader sends a PROXY protocol v1 line ("PROXY TCP4 ...\r\n")
	// before the client's bytes, so the far side learns the client's
	// address, which it would otherwise see as the relay's.
	ProxyHeader bool
	// Watch, when positive, dials To this often without a client; after two
	// failures in a row the relay stops, so a relay whose wizard has gone
	// away does not hold the port forever.
	Watch time.Duration
}

// ErrTargetGone is returned by Serve when Watch found the target
// unreachable twice in a row.
var ErrTargetGone = errors.New("relay: target unreachable")

// Main runs the relay for the arguments of the "relay" subcommand until ctx
// is cancelled:
//
//	--listen ADDR        address to accept connections on (default :8080)
//	--to HOST:PORT       where to forward them (required)
//	--max-conns N        connections relayed at once (default 64)
//	--idle-timeout D     close a silent connection after D (default 60s)
//	--dial-timeout D     bound on connecting to --to (default 5s)
//	--proxy-header       send a PROXY protocol v1 line first
//	--watch D            stop once --to refuses twice, checked every D
//
// It logs one line per connection to stdout and returns the exit code: 0
// once ctx ends or the watched target is gone, 1 when it cannot listen, 2
// for a usage error.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	listen, cfg, err := parseArgs(args, stderr)
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(stderr, "relay: %v\n", err)
		}
		return 2
	}
	log := slog.New(slog.NewTextHandler(stdout, nil))
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", listen)
	if err != nil {
		fmt.Fprintf(stderr, "relay: listen %s: %v\n", listen, err)
		return 1
	}
	log.Info("listening", "listen", ln.Addr().String(), "to", cfg.To)
	err = Serve(ctx, ln, cfg, log)
	switch {
	case errors.Is(err, ErrTargetGone):
		log.Info("stopped: the target is gone", "to", cfg.To)
	case err != nil:
		fmt.Fprintf(stderr, "%v\n", err)
		return 1
	default:
		log.Info("stopped")
	}
	return 0
}

// parseArgs reads the flags Main documents.
func parseArgs(args []string, stderr io.Writer) (string, Config, error) {
	fs := flag.NewFlagSet("relay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", ":8080", "address to accept connections on")
	var cfg Config
	fs.StringVar(&cfg.To, "to", "", "host:port to forward connections to (required)")
	fs.IntVar(&cfg.MaxConns, "max-conns", 64, "connections relayed at once")
	fs.DurationVar(&cfg.IdleTimeout, "idle-timeout", 60*time.Second, "close a connection silent for this long")
	fs.DurationVar(&cfg.DialTimeout, "dial-timeout", 5*time.Second, "bound on connecting to --to")
	fs.BoolVar(&cfg.ProxyHeader, "proxy-header", false, "send a PROXY protocol v1 line before the client's bytes")
	fs.DurationVar(&cfg.Watch, "watch", 0, "stop once --to refuses twice in a row, checked this often (0: never)")
	if err := fs.Parse(args); err != nil {
		return "", Config{}, err
	}
	switch {
	case fs.NArg() > 0:
		return "", Config{}, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	case cfg.To == "":
		return "", Config{}, errors.New("--to HOST:PORT is required")
	}
	if _, port, err := net.SplitHostPort(cfg.To); err != nil || port == "" {
		return "", Config{}, fmt.Errorf("--to %q is not HOST:PORT", cfg.To)
	}
	if _, _, err := net.SplitHostPort(*listen); err != nil {
		return "", Config{}, fmt.Errorf("--listen %q is not [HOST]:PORT", *listen)
	}
	switch {
	case cfg.MaxConns < 1:
		return "", Config{}, fmt.Errorf("--max-conns %d is not a positive number", cfg.MaxConns)
	case cfg.IdleTimeout <= 0 || cfg.DialTimeout <= 0 || cfg.Watch < 0:
		return "", Config{}, errors.New("--idle-timeout and --dial-timeout must be positive, --watch not negative")
	}
	return *listen, cfg, nil
}

// Serve relays the connections accepted on ln to cfg.To until ctx ends, and
// then closes ln and every open connection and waits for them. Zero fields
// of cfg other than To and Watch take Main's defaults. It returns nil when
// ctx ends, ErrTargetGone when the watch gave up, or the listener's error.
func Serve(ctx context.Context, ln net.Listener, cfg Config, log *slog.Logger) error {
	if cfg.MaxConns < 1 {
		cfg.MaxConns = 64
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 60 * time.Second
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = 5 * time.Second
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stopAccept := context.AfterFunc(ctx, func() { ln.Close() })
	defer stopAccept()

	var wg sync.WaitGroup
	defer wg.Wait()
	if cfg.Watch > 0 {
		wg.Go(func() {
			if watch(ctx, cfg, log) {
				cancel(ErrTargetGone)
			}
		})
	}
	sem := make(chan struct{}, cfg.MaxConns)
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				if errors.Is(context.Cause(ctx), ErrTargetGone) {
					return ErrTargetGone
				}
				return nil
			}
			if errors.Is(err, net.ErrClosed) {
				return fmt.Errorf("relay: accept: %w", err)
			}
			// Out of file descriptors and the like: back off, as
			// net/http does, rather than spin or give up.
			log.Warn("accept failed", "error", err.Error())
			select {
			case <-time.After(100 * time.Millisecond):
			case <-ctx.Done():
			}
			continue
		}
		select {
		case sem <- struct{}{}:
		default:
			log.Warn("connection refused", "from", c.RemoteAddr().String(), "reason", "too many connections", "limit", cfg.MaxConns)
			c.Close()
			continue
		}
		wg.Go(func() {
			defer func() { <-sem }()
			relayConn(ctx, c, cfg, log)
		})
	}
}

// relayConn forwards one client connection and logs one line about it.
func relayConn(ctx context.Context, client net.Conn, cfg Config, log *slog.Logger) {
	start := time.Now()
	from := client.RemoteAddr().String()
	defer client.Close()
	d := net.Dialer{Timeout: cfg.DialTimeout}
	up, err := d.DialContext(ctx, "tcp", cfg.To)
	if err != nil {
		log.Warn("connection", "from", from, "to", cfg.To, "error", "dial: "+err.Error())
		return
	}
	defer up.Close()
	// Closing both ends is what unblocks the two copies on shutdown.
	stop := context.AfterFunc(ctx, func() { client.Close(); up.Close() })
	defer stop()

	p := &pair{idle: cfg.IdleTimeout}
	p.touch()
	if cfg.ProxyHeader {
		up.SetWriteDeadline(time.Now().Add(cfg.IdleTimeout))
		if _, err := io.WriteString(up, proxyLine(client)); err != nil {
			log.Warn("connection", "from", from, "to", cfg.To, "error", "proxy header: "+err.Error())
			return
		}
	}
	var sent int64
	var wg sync.WaitGroup
	wg.Go(func() { sent = p.copy(up, client) })
	received := p.copy(client, up)
	wg.Wait()

	attrs := []any{"from", from, "to", cfg.To, "sent", sent, "received", received, "duration", time.Since(start).Round(time.Millisecond).String()}
	if err := p.err(); err != nil && ctx.Err() == nil {
		log.Warn("connection", append(attrs, "error", err.Error())...)
		return
	}
	log.Info("connection", attrs...)
}

// pair is the state the two copies of one connection share: when either
// side last sent a byte, and the first error, which ends both.
type pair struct {
	idle time.Duration
	last atomic.Int64 // unix nanoseconds

	mu       sync.Mutex
	firstErr error
}

func (p *pair) touch() { p.last.Store(time.Now().UnixNano()) }

// quiet reports whether neither side has sent a byte for the idle timeout.
func (p *pair) quiet() bool {
	return time.Since(time.Unix(0, p.last.Load())) >= p.idle
}

func (p *pair) fail(err error, conns ...net.Conn) {
	p.mu.Lock()
	if p.firstErr == nil {
		p.firstErr = err
	}
	p.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
}

func (p *pair) err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.firstErr
}

// copy moves bytes from src to dst until src ends, and then half-closes dst
// so the far side sees the end too while the other direction goes on. A
// read waits at most the idle timeout, renewed while the other direction
// is busy; any other failure closes both connections.
func (p *pair) copy(dst, src net.Conn) int64 {
	buf := make([]byte, 32<<10)
	var n int64
	for {
		src.SetReadDeadline(time.Now().Add(p.idle))
		nr, rerr := src.Read(buf)
		if nr > 0 {
			p.touch()
			dst.SetWriteDeadline(time.Now().Add(p.idle))
			nw, werr := dst.Write(buf[:nr])
			n += int64(nw)
			if werr != nil {
				p.fail(fmt.Errorf("write: %w", werr), dst, src)
				return n
			}
		}
		switch {
		case rerr == nil:
		case errors.Is(rerr, io.EOF):
			if cw, ok := dst.(interface{ CloseWrite() error }); ok {
				cw.CloseWrite()
			} else {
				dst.Close()
			}
			return n
		case errors.Is(rerr, os.ErrDeadlineExceeded) && !p.quiet():
			// This side is silent but the other one is talking, as a
			// client waiting for a long answer is.
		case errors.Is(rerr, os.ErrDeadlineExceeded):
			p.fail(fmt.Errorf("idle for %s", p.idle), dst, src)
			return n
		default:
			p.fail(fmt.Errorf("read: %w", rerr), dst, src)
			return n
		}
	}
}

// proxyLine is the PROXY protocol v1 header for a client connection: the
// client's address and the address it connected to.
func proxyLine(c net.Conn) string {
	src, ok1 := c.RemoteAddr().(*net.TCPAddr)
	dst, ok2 := c.LocalAddr().(*net.TCPAddr)
	if !ok1 || !ok2 {
		return "PROXY UNKNOWN\r\n"
	}
	family := "TCP6"
	srcIP, dstIP := src.IP, dst.IP
	if s4, d4 := srcIP.To4(), dstIP.To4(); s4 != nil && d4 != nil {
		family, srcIP, dstIP = "TCP4", s4, d4
	} else if s4 != nil || d4 != nil {
		// One side v4 and the other v6 cannot be said in v1 except as
		// v6 with a mapped address.
		srcIP, dstIP = srcIP.To16(), dstIP.To16()
	}
	return "PROXY " + family + " " + srcIP.String() + " " + dstIP.String() + " " +
		strconv.Itoa(src.Port) + " " + strconv.Itoa(dst.Port) + "\r\n"
}

// watch dials the target every cfg.Watch and reports true once two dials
// in a row have failed.
func watch(ctx context.Context, cfg Config, log *slog.Logger) bool {
	t := time.NewTicker(cfg.Watch)
	defer t.Stop()
	d := net.Dialer{Timeout: cfg.DialTimeout}
	failures := 0
	for {
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
		}
		c, err := d.DialContext(ctx, "tcp", cfg.To)
		if err == nil {
			if cfg.ProxyHeader {
				c.SetWriteDeadline(time.Now().Add(cfg.DialTimeout))
				io.WriteString(c, "PROXY UNKNOWN\r\n")
			}
			c.Close()
			failures = 0
			continue
		}
		if ctx.Err() != nil {
			return false
		}
		failures++
		log.Warn("target unreachable", "to", cfg.To, "error", err.Error(), "failures", failures)
		if failures >= 2 {
			return true
		}
	}
}
