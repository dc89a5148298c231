package server

import (
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/websocket"

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

// handleJobLogs streams a job's log lines and board over a websocket. One
// writer goroutine (this one) owns the connection's writes, with a deadline
// before each; a reader goroutine discards client messages, enforces the
// pong deadline and cancels the connection when the client goes away. The
// hub never waits for this client: a slow one gets gap markers.
func (d *Deps) handleJobLogs(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	hub, ok := d.Installer.Logs(id)
	if !ok {
		http.NotFound(w, r)
		return
	}
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
		return
	}
	defer conn.Close()
	conn.SetReadLimit(maxClientMsg)
	done := make(chan struct{})
	go func() {
		defer close(done)
		conn.SetReadDeadline(time.Now().Add(pongWait))
		conn.SetPongHandler(func(string) error { return conn.SetReadDeadline(time.Now().Add(pongWait)) })
		for {
			if _, _, err := conn.ReadMessage(); err != nil {
				return
			}
		}
	}()

	sub := hub.Subscribe(parseCursors(r.URL.Query()))
	defer sub.Close()
	wait := d.WriteWait
	if wait <= 0 {
		wait = writeWait
	}
	write := func(m logMessage) bool {
		conn.SetWriteDeadline(time.Now().Add(wait))
		err := conn.WriteJSON(m)
		if err != nil {
			d.Log.Info("websocket client cut off", "remote", r.RemoteAddr, "err", err)
			abort(conn)
		}
		return err == nil
	}
	ping := time.NewTicker(pingPeriod)
	defer ping.Stop()
	board := time.NewTicker(boardPeriod)
	defer board.Stop()
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
			if !write(m) {
				return false, false
			}
		}
		return !job.Running(), true
	}
	drain := func() bool {
		for {
			b := sub.Next(batchLines)
			if len(b.Lines) == 0 && len(b.Gaps) == 0 {
				return true
			}
			for _, m := range splitBatch(b) {
				if !write(m) {
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
	if _, ok := sendBoard(); !ok {
		return
	}
	for {
		select {
		case <-done:
			return
		case <-sub.Notify():
			if !drain() {
				return
			}
		case <-board.C:
			finished, ok := sendBoard()
			if !ok {
				return
			}
			if finished {
				if drain() {
					write(logMessage{Type: "done"})
				}
				conn.SetWriteDeadline(time.Now().Add(writeWait))
				conn.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "install finished"))
				return
			}
		case <-ping.C:
			conn.SetWriteDeadline(time.Now().Add(writeWait))
			if conn.WriteMessage(websocket.PingMessage, nil) != nil {
				return
			}
		}
	}
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
