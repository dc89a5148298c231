package server

import (
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
	"golang.org/x/sys/unix"

	"github.com/carto-setup/carto-setup/internal/logstream"
	"github.com/carto-setup/carto-setup/web"
)

// Websocket timing, as in gorilla's chat example.
const (
	writeWait   = 10 * time.Second
	pongWait    = 60 * time.Second
	pingPeriod  = 50 * time.Second
	boardPeriod = time.Second
	batchLines  = 500
	// maxMessageBytes bounds the log text of one websocket message, so a
	// slow reader takes each message within writeWait and falls behind
	// into gap markers instead of being cut off by one huge message.
	maxMessageBytes = 64 << 10
	maxClientMsg    = 512
	// sendLowat bounds the bytes the kernel keeps unsent for one
	// websocket (TCP_NOTSENT_LOWAT). Without it a connection's send
	// buffer grows to megabytes, and once it is full a write to a slow
	// client waits until a third of it has drained, which takes minutes
	// at 16 KiB/s: far past writeWait, so the client was cut off instead
	// of falling behind the hub into gap markers. Bytes in flight (the
	// TCP window) are not bounded by it: a fast client on a long link
	// keeps its throughput.
	sendLowat = 32 << 10
)

// logMessage is one websocket or polling message.
type logMessage struct {
	Type     string            `json:"type"` // "lines", "board" or "done"
	Lines    []logstream.Line  `json:"lines,omitempty"`
	Gaps     []logstream.Gap   `json:"gaps,omitempty"`
	Cursors  logstream.Cursors `json:"cursors,omitempty"`
	Status   string            `json:"status,omitempty"`
	Error    string            `json:"error,omitempty"`
	Services []web.ChipView    `json:"services,omitempty"`
	Failing  []web.FailingView `json:"failing,omitempty"`
	More     bool              `json:"more,omitempty"`
	// Images is the pull phase's section (js/images.js).
	Images *web.ImagesBoardView `json:"images,omitempty"`
}

// parseCursors reads "container:seq,container:seq" from the query.
func parseCursors(q url.Values) logstream.Cursors {
	c := logstream.Cursors{}
	for _, part := range strings.Split(q.Get("after"), ",") {
		name, seq, ok := strings.Cut(part, ":")
		if !ok || name == "" {
			continue
		}
		if n, err := strconv.ParseUint(seq, 10, 64); err == nil {
			c[name] = n
		}
	}
	return c
}

func boardMessage(job web.InstallData) logMessage {
	m := logMessage{Type: "board", Status: job.Status, Error: job.Error, Services: job.Services, Failing: job.Failing}
	if len(job.Images.Rows) > 0 {
		m.Images = &job.Images
	}
	return m
}

// handleJobPoll serves the same batches as the websocket over plain HTTP,
// for networks that block websockets.
func (d *Deps) handleJobPoll(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	hub, ok := d.Installer.Logs(id)
	st, ok2 := d.Installer.Status(id)
	job := installData(st, d.Now())
	if !ok || !ok2 {
		return &appError{Status: http.StatusNotFound, Title: "No such install", Message: "There is no install with that ID."}
	}
	b := hub.Poll(parseCursors(r.URL.Query()), batchLines)
	msg := boardMessage(job)
	msg.Type, msg.Lines, msg.Gaps, msg.Cursors, msg.More = "poll", b.Lines, b.Gaps, b.Cursors, b.More
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	return json.NewEncoder(w).Encode(msg)
}

// handleJobLogs streams a job's log lines and board over a websocket (see
// logSocket). The hub never waits for this client: a slow one gets gap
// markers.
func (d *Deps) handleJobLogs(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	hub, ok := d.Installer.Logs(id)
	if !ok {
		http.NotFound(w, r)
		return
	}
	s, ok := d.openLogSocket(w, r)
	if !ok {
		return
	}
	defer s.conn.Close()
	sub := hub.Subscribe(parseCursors(r.URL.Query()))
	defer sub.Close()

	var lastBoard []byte
	sendBoard := func() (finished, ok bool) {
		st, found := d.Installer.Status(id)
		job := installData(st, d.Now())
		if !found {
			return true, true
		}
		m := boardMessage(job)
		b, _ := json.Marshal(m)
		if string(b) != string(lastBoard) {
			lastBoard = b
			if !s.write(m) {
				return false, false
			}
		}
		return !job.Running(), true
	}
	messages := func(b logstream.Batch) []any {
		var out []any
		for _, m := range splitBatch(b) {
			out = append(out, m)
		}
		return out
	}
	s.follow(sub, messages, sendBoard, logMessage{Type: "done"}, "install finished")
}

// logSocket is the websocket of a live log view. One writer goroutine (the
// handler's, in follow) owns the connection's writes, with a deadline
// before each; a reader goroutine discards client messages, enforces the
// pong deadline and says when the client went away.
type logSocket struct {
	d      *Deps
	conn   *websocket.Conn
	remote string
	wait   time.Duration
	gone   chan struct{} // closed when the client went away
}

// openLogSocket upgrades a same-origin request to a log websocket.
func (d *Deps) openLogSocket(w http.ResponseWriter, r *http.Request) (*logSocket, bool) {
	up := websocket.Upgrader{
		ReadBufferSize: 1024, WriteBufferSize: 16 << 10,
		// Same origin only; the Host header itself was checked against
		// the allowlist by hostCheck, which defeats DNS rebinding.
		CheckOrigin: func(r *http.Request) bool {
			u, err := url.Parse(r.Header.Get("Origin"))
			return err == nil && u.Host == r.Host && d.hostAllowed(u.Host)
		},
	}
	conn, err := up.Upgrade(w, r, nil)
	if err != nil {
		d.refuse(r, refusedWebsocket, err.Error())
		return nil, false
	}
	limitUnsent(conn, sendLowat)
	conn.SetReadLimit(maxClientMsg)
	s := &logSocket{d: d, conn: conn, remote: r.RemoteAddr, wait: d.WriteWait, gone: make(chan struct{})}
	if s.wait <= 0 {
		s.wait = writeWait
	}
	go s.readLoop()
	return s, true
}

func (s *logSocket) readLoop() {
	defer close(s.gone)
	s.conn.SetReadDeadline(time.Now().Add(pongWait))
	s.conn.SetPongHandler(func(string) error { return s.conn.SetReadDeadline(time.Now().Add(pongWait)) })
	for {
		if _, _, err := s.conn.ReadMessage(); err != nil {
			return
		}
	}
}

// write sends one JSON message within the write deadline; a client that
// does not take it in time is cut off.
func (s *logSocket) write(m any) bool {
	s.conn.SetWriteDeadline(time.Now().Add(s.wait))
	err := s.conn.WriteJSON(m)
	if err != nil {
		s.d.Log.Info("websocket client cut off", "remote", s.remote, "err", err)
		abort(s.conn)
	}
	return err == nil
}

// follow sends the subscription's batches, each as the messages of
// messages (none: nothing is sent for it), until the client goes or a
// write fails. tick, if set, runs every boardPeriod (after the first
// batches, and then) and may send messages of its own; once it says the
// view is finished, the last lines and done are sent and the socket is
// closed normally with reason.
func (s *logSocket) follow(sub *logstream.Subscription, messages func(logstream.Batch) []any,
	tick func() (finished, ok bool), done any, reason string) {
	drain := func() bool {
		for {
			b := sub.Next(batchLines)
			if len(b.Lines) == 0 && len(b.Gaps) == 0 {
				return true
			}
			for _, m := range messages(b) {
				if !s.write(m) {
					return false
				}
			}
			if !b.More {
				return true
			}
		}
	}
	if !drain() {
		return
	}
	var ticks <-chan time.Time
	if tick != nil {
		if _, ok := tick(); !ok {
			return
		}
		t := time.NewTicker(boardPeriod)
		defer t.Stop()
		ticks = t.C
	}
	ping := time.NewTicker(pingPeriod)
	defer ping.Stop()
	for {
		select {
		case <-s.gone:
			return
		case <-sub.Notify():
			if !drain() {
				return
			}
		case <-ticks:
			finished, ok := tick()
			if !ok {
				return
			}
			if finished {
				if drain() {
					s.write(done)
				}
				s.conn.SetWriteDeadline(time.Now().Add(writeWait))
				s.conn.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, reason))
				return
			}
		case <-ping.C:
			s.conn.SetWriteDeadline(time.Now().Add(writeWait))
			if s.conn.WriteMessage(websocket.PingMessage, nil) != nil {
				return
			}
		}
	}
}

// limitUnsent sets TCP_NOTSENT_LOWAT on a websocket's TCP connection.
func limitUnsent(conn *websocket.Conn, n int) {
	c := conn.UnderlyingConn()
	if tc, ok := c.(interface{ NetConn() net.Conn }); ok {
		c = tc.NetConn()
	}
	sc, ok := c.(syscall.Conn)
	if !ok {
		return
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return
	}
	raw.Control(func(fd uintptr) { unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_NOTSENT_LOWAT, n) })
}

// abort makes the coming Close reset the TCP connection instead of
// flushing what is queued: a client that stopped reading would otherwise
// keep the kernel's buffers and the socket alive long after we gave up.
func abort(conn *websocket.Conn) {
	c := conn.UnderlyingConn()
	if tc, ok := c.(interface{ NetConn() net.Conn }); ok {
		c = tc.NetConn()
	}
	if tcp, ok := c.(*net.TCPConn); ok {
		tcp.SetLinger(0)
	}
}

// splitBatch cuts a batch into messages of at most maxMessageBytes of log
// text (at least one line each). The gaps go in the first message and the
// cursors in the last; a client that reconnects between them resumes from
// the seq of the last line it received (logs.js tracks it per line).
func splitBatch(b logstream.Batch) []logMessage {
	var out []logMessage
	cur := logMessage{Type: "lines", Gaps: b.Gaps}
	size := 0
	for _, l := range b.Lines {
		if size > 0 && size+len(l.Text) > maxMessageBytes {
			out = append(out, cur)
			cur, size = logMessage{Type: "lines"}, 0
		}
		cur.Lines = append(cur.Lines, l)
		size += len(l.Text)
	}
	cur.Cursors = b.Cursors
	return append(out, cur)
}
