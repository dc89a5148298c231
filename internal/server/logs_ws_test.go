package server

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/carto-setup/carto-setup/internal/logstream"
	"github.com/carto-setup/carto-setup/internal/wizard"
)

// TestStalledClientIsCutOffWhileFastClientKeepsUp attaches a client that
// never reads and one that reads as fast as it can to the same job: the
// producer never waits, the fast client gets every line or an accounted gap,
// and the stalled one is disconnected by the write deadline.
func TestStalledClientIsCutOffWhileFastClientKeepsUp(t *testing.T) {
	f := newFixture(t)
	f.deps.WriteWait = 2 * time.Second // generous: the fast client must keep up even under -race on a busy machine
	inst := f.deps.Installer.(*fakeInstaller)
	inst.hub = logstream.NewHub(logstream.HubConfig{MaxLines: 4000, MaxBytes: 8 << 20})
	inst.Start(wizard.State{})
	f.router = routes(f.deps)
	srv := httptest.NewServer(f.router)
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	f.deps.HostNames = append(f.deps.HostNames, "127.0.0.1")
	h := http.Header{}
	h.Set("Origin", "http://"+host)
	h.Set("Cookie", SessionCookie+"="+f.cookie.Value)

	// The stalled client: a tiny receive buffer, and it never reads.
	stalledDialer := websocket.Dialer{NetDial: func(network, addr string) (net.Conn, error) {
		c, err := net.Dial(network, addr)
		if err == nil {
			c.(*net.TCPConn).SetReadBuffer(4096)
		}
		return c, err
	}}
	stalled, _, err := stalledDialer.Dial("ws://"+host+"/jobs/job1/logs", h)
	if err != nil {
		t.Fatal(err)
	}
	defer stalled.Close()
	fast, _, err := websocket.DefaultDialer.Dial("ws://"+host+"/jobs/job1/logs", h)
	if err != nil {
		t.Fatal(err)
	}
	defer fast.Close()

	const produced = 3000
	payload := strings.Repeat("x", 2048)
	var delivered, gapped int
	var mu sync.Mutex
	done := make(chan struct{})
	go func() {
		defer close(done)
		fast.SetReadDeadline(time.Now().Add(60 * time.Second))
		for {
			var m logMessage
			if err := fast.ReadJSON(&m); err != nil {
				return
			}
			mu.Lock()
			delivered += len(m.Lines)
			for _, g := range m.Gaps {
				gapped += int(g.To - g.From + 1)
			}
			n := delivered + gapped
			mu.Unlock()
			if n >= produced {
				return
			}
		}
	}()
	start := time.Now()
	for i := range produced {
		inst.hub.Append(logstream.Line{Container: "chatty", Service: "chatty", Stream: logstream.Stdout, TS: time.Now(), Text: payload + string(rune('a'+i%26))})
	}
	appendTook := time.Since(start)
	<-done
	mu.Lock()
	if delivered+gapped != produced {
		t.Fatalf("fast client: %d delivered + %d in gaps != %d produced", delivered, gapped, produced)
	}
	mu.Unlock()
	t.Logf("appending %d lines took %v with a stalled client attached; fast client: %d delivered, %d in gaps", produced, appendTook, delivered, gapped)

	// The stalled client has not read for longer than the write wait
	// while the server still had lines for it: it must be cut off. Only
	// then does it start to read; had it started earlier, it would be a
	// slow client, which falls behind into gap markers and is kept.
	time.Sleep(f.deps.WriteWait + time.Second)
	// Draining what reached its socket ends in an error before all the
	// lines.
	stalled.SetReadDeadline(time.Now().Add(30 * time.Second))
	got := 0
	for {
		var m logMessage
		if err := stalled.ReadJSON(&m); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatalf("the stalled client was never disconnected (read %d lines)", got)
			}
			break
		}
		got += len(m.Lines)
	}
	if got >= produced {
		t.Fatalf("the stalled client received every line (%d): it was not stalled", got)
	}
}

func TestSplitBatch(t *testing.T) {
	big := strings.Repeat("y", 40<<10)
	b := logstream.Batch{
		Gaps:    []logstream.Gap{{Container: "c", From: 1, To: 3}},
		Lines:   []logstream.Line{{Container: "c", Seq: 4, Text: big}, {Container: "c", Seq: 5, Text: big}, {Container: "c", Seq: 6, Text: "small"}, {Container: "c", Seq: 7, Text: strings.Repeat("z", 100<<10)}},
		Cursors: logstream.Cursors{"c": 7},
	}
	msgs := splitBatch(b)
	var seqs []uint64
	for i, m := range msgs {
		size := 0
		for _, l := range m.Lines {
			size += len(l.Text)
			seqs = append(seqs, l.Seq)
		}
		if size > maxMessageBytes && len(m.Lines) > 1 {
			t.Errorf("message %d holds %d bytes in %d lines", i, size, len(m.Lines))
		}
		if (len(m.Gaps) > 0) != (i == 0) || (m.Cursors != nil) != (i == len(msgs)-1) {
			t.Errorf("message %d: gaps %v cursors %v", i, m.Gaps, m.Cursors)
		}
	}
	if len(msgs) != 3 || fmt.Sprint(seqs) != "[4 5 6 7]" {
		t.Fatalf("%d messages with lines %v, want 3 messages with 4 5 6 7 in order", len(msgs), seqs)
	}
}
