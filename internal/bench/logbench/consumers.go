package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gorilla/websocket"

	"github.com/carto-setup/carto-setup/internal/bench/measure"
	"github.com/carto-setup/carto-setup/internal/server"
)

// dockerConsumer is consumer A: docker logs -f --timestamps as a
// subprocess, both pipes parsed by the harness. docker logs -f ends when
// the container stops; after a restart it is started again with --since
// the new StartedAt, which is what docker compose logs -f does.
type dockerConsumer struct {
	container string
	t         *tally
	sampler   *measure.Sampler

	mu      sync.Mutex
	cpu     time.Duration // of every docker logs process, from its rusage
	stopped bool
	cmd     *exec.Cmd
}

func (d *dockerConsumer) run(ctx context.Context) error {
	since := ""
	started, _ := dockerInspect(ctx, d.container, "{{.State.StartedAt}}")
	for {
		args := []string{"logs", "-f", "--timestamps"}
		if since != "" {
			args = append(args, "--since", since)
		}
		cmd := exec.CommandContext(ctx, "docker", append(args, d.container)...)
		outPipe, err := cmd.StdoutPipe()
		if err != nil {
			return err
		}
		errPipe, err := cmd.StderrPipe()
		if err != nil {
			return err
		}
		d.mu.Lock()
		if d.stopped {
			d.mu.Unlock()
			return nil
		}
		if err := cmd.Start(); err != nil {
			d.mu.Unlock()
			return err
		}
		d.cmd = cmd
		d.mu.Unlock()
		d.sampler.Watch("cli", cmd.Process.Pid)
		var wg sync.WaitGroup
		wg.Go(func() { d.read(outPipe, stdout) })
		wg.Go(func() { d.read(errPipe, stderr) })
		wg.Wait()
		cmd.Wait()
		d.mu.Lock()
		d.cmd = nil
		if ps := cmd.ProcessState; ps != nil {
			d.cpu += ps.UserTime() + ps.SystemTime()
		}
		stopped := d.stopped
		d.mu.Unlock()
		if stopped || ctx.Err() != nil {
			return nil
		}
		// The container stopped: wait for its next start.
		for {
			out, err := dockerInspect(ctx, d.container, "{{.State.Running}} {{.State.StartedAt}}")
			if err != nil {
				return err
			}
			running, at, _ := strings.Cut(out, " ")
			if running == "true" && at != started {
				since, started = at, at
				break
			}
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(20 * time.Millisecond):
			}
			d.mu.Lock()
			stopped := d.stopped
			d.mu.Unlock()
			if stopped {
				return nil
			}
		}
	}
}

func (d *dockerConsumer) read(r io.Reader, stream int) {
	br := bufio.NewReaderSize(r, 256<<10)
	for {
		line, err := br.ReadString('\n')
		if len(line) > 0 {
			recv := time.Now()
			line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
			d.t.add(stream, stripDockerTS(line), recv)
		}
		if err != nil {
			return
		}
	}
}

// stop ends the current docker logs process and keeps a new one from
// starting.
func (d *dockerConsumer) stop() {
	d.mu.Lock()
	d.stopped = true
	if d.cmd != nil { // running: run clears it once the process is waited for
		d.cmd.Process.Signal(syscall.SIGTERM)
	}
	d.mu.Unlock()
}

// cpuTime is the CPU time of every docker logs process that has ended.
func (d *dockerConsumer) cpuTime() time.Duration {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cpu
}

func dockerInspect(ctx context.Context, name, format string) (string, error) {
	out, err := exec.CommandContext(ctx, "docker", "inspect", "-f", format, name).Output()
	if err != nil {
		return "", fmt.Errorf("docker inspect %s: %w", name, err)
	}
	return strings.TrimSpace(string(out)), nil
}

// wsMode is how a websocket client reads.
type wsMode int

const (
	wsFast      wsMode = iota // reads as fast as it can
	wsThrottled               // 4 KiB SO_RCVBUF, reads about 16 KiB/s
	wsStalled                 // handshake, then never reads or answers pings
)

// throttleRate is how fast the throttled client reads, bytes per second.
const throttleRate = 16 << 10

// wsClient is consumer B: a websocket client of the wizard's log handler,
// parsing its frames as the browser's script does.
type wsClient struct {
	name    string
	mode    wsMode
	conn    *websocket.Conn
	t       *tally
	cov     coverage
	limit   *throttledConn
	local   string // local address, to find this connection in the server's close log
	markers atomic.Int64
	done    chan struct{}
	err     error // why reading stopped; valid once done is closed
}

// dialWS connects a client to job's log stream on the server.
func dialWS(ctx context.Context, info serverInfo, job, name string, mode wsMode, t *tally) (*wsClient, error) {
	c := &wsClient{name: name, mode: mode, t: t, done: make(chan struct{})}
	nd := &net.Dialer{Timeout: 5 * time.Second}
	if mode == wsThrottled {
		nd.Control = func(network, address string, rc syscall.RawConn) error {
			var serr error
			err := rc.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
			})
			if err != nil {
				return err
			}
			return serr
		}
	}
	d := websocket.Dialer{
		HandshakeTimeout: 10 * time.Second,
		TLSClientConfig:  &tls.Config{InsecureSkipVerify: true}, // the child's self-signed certificate
		ReadBufferSize:   64 << 10,
		NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			conn, err := nd.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			c.local = conn.LocalAddr().String()
			if mode == wsThrottled {
				c.limit = &throttledConn{Conn: conn}
				c.limit.on.Store(true)
				return c.limit, nil
			}
			return conn, nil
		},
	}
	u, err := url.Parse(info.URL)
	if err != nil {
		return nil, err
	}
	h := http.Header{}
	h.Set("Origin", info.URL)
	h.Set("Cookie", server.SessionCookie+"="+info.Cookie)
	conn, res, err := d.DialContext(ctx, "wss://"+u.Host+streamPath(info.View, job), h)
	if err != nil {
		if res != nil {
			err = fmt.Errorf("%w (HTTP %d)", err, res.StatusCode)
		}
		return nil, fmt.Errorf("websocket %s: %w", name, err)
	}
	c.conn = conn
	if mode == wsStalled {
		close(c.done)
		return c, nil
	}
	go c.read()
	return c, nil
}

// streamPath is the websocket a client of job reads: the job's log, or
// the Logs page's live tail of every service (the bench job) or of a
// service that writes nothing (the quiet job), from the start.
func streamPath(view, job string) string {
	if view != "page" {
		return "/jobs/" + job + "/logs"
	}
	q := "at=1970-01-01T00%3A00%3A00Z"
	if job == quietJob {
		q += "&service=quiet"
	}
	return "/logs/live?" + q
}

// wsMessage is the part of the handler's messages the client reads.
type wsMessage struct {
	Type  string `json:"type"`
	Lines []struct {
		Container string `json:"container"`
		Stream    string `json:"stream"`
		Seq       uint64 `json:"seq"`
		Text      string `json:"text"`
	} `json:"lines"`
	Gaps []struct {
		From uint64 `json:"from"`
		To   uint64 `json:"to"`
	} `json:"gaps"`
}

func (c *wsClient) read() {
	defer close(c.done)
	for {
		_, data, err := c.conn.ReadMessage()
		if err != nil {
			c.err = err
			return
		}
		recv := time.Now()
		var m wsMessage
		if err := json.Unmarshal(data, &m); err != nil || m.Type != "lines" {
			continue
		}
		for _, g := range m.Gaps {
			c.cov.add(g.From, g.To)
			c.t.addGap(g.To - g.From + 1)
		}
		for _, l := range m.Lines {
			if l.Stream == "marker" {
				// The wizard's own lines (exited, restarted,
				// recreated): not the generator's, not lost either.
				c.markers.Add(1)
				continue
			}
			s := stdout
			if l.Stream == "stderr" {
				s = stderr
			}
			c.cov.add(l.Seq, l.Seq)
			c.t.add(s, l.Text, recv)
		}
	}
}

// unthrottle lets a throttled client read at full speed, to drain to the
// end so that its accounting can be closed.
func (c *wsClient) unthrottle() {
	if c.limit != nil {
		c.limit.on.Store(false)
	}
}

func (c *wsClient) close() {
	c.conn.Close()
	<-c.done
}

// throttledConn reads at most throttleRate bytes per second while on.
type throttledConn struct {
	net.Conn
	on atomic.Bool
}

func (c *throttledConn) Read(p []byte) (int, error) {
	if !c.on.Load() {
		return c.Conn.Read(p)
	}
	if len(p) > 1024 {
		p = p[:1024]
	}
	n, err := c.Conn.Read(p)
	time.Sleep(time.Duration(n) * time.Second / throttleRate)
	return n, err
}
