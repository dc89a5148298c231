package logsummary

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/carto-setup/carto-setup/internal/testenv"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func newTest(t *testing.T, cfg Config) (*Summarizer, *testenv.Buffer, *clock) {
	t.Helper()
	c := &clock{t: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)}
	cfg.Now = c.now
	var out testenv.Buffer
	log := slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}}))
	return New(log, cfg), &out, c
}

func lines(s string) []string {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

func TestHandshakeFloodBecomesOneSummary(t *testing.T) {
	t.Parallel()
	s, out, c := newTest(t, Config{Interval: time.Minute})
	errLog := s.ErrorLog()
	reasons := []string{
		"EOF",
		"read tcp 10.0.0.5:8443->%s: read: connection reset by peer",
		"tls: first record does not look like a TLS handshake",
	}
	const n = 30000
	for i := range n {
		addr := fmt.Sprintf("203.0.113.%d:%d", i%50, 40000+i%2000)
		reason := reasons[0]
		switch {
		case i%10 == 1:
			reason = fmt.Sprintf(reasons[1], addr)
		case i%10 == 2:
			reason = reasons[2]
		}
		errLog.Printf("http: TLS handshake error from %s: %s", addr, reason)
	}
	if got := out.String(); got != "" {
		t.Fatalf("handshake failures were written as they came:\n%.500s", got)
	}
	c.t = c.t.Add(30 * time.Second)
	if s.Flush() {
		t.Fatal("summary written before the interval passed")
	}
	c.t = c.t.Add(30 * time.Second)
	if !s.Flush() {
		t.Fatal("no summary after the interval")
	}
	got := lines(out.String())
	if len(got) != 1 {
		t.Fatalf("%d lines, want one summary:\n%s", len(got), out.String())
	}
	for _, want := range []string{
		`level=WARN msg="30000 refused connections, requests and held-back lines (summary)"`,
		"window=1m0s", "tls_handshake_failed=30000", "addresses=50",
		`top_reasons="EOF (24000), read: connection reset by peer (3000), tls: first record does not look like a TLS handshake (3000)"`,
		`top_addresses="203.0.113.0 (600), 203.0.113.1 (600), 203.0.113.10 (600)"`,
	} {
		if !strings.Contains(got[0], want) {
			t.Errorf("summary lacks %q:\n%s", want, got[0])
		}
	}
	// Counting starts afresh, and a quiet window writes nothing.
	c.t = c.t.Add(time.Minute)
	if s.Flush() || len(lines(out.String())) != 1 {
		t.Fatalf("quiet window wrote a line:\n%s", out.String())
	}
}

func TestOtherLinesPassThroughRateLimited(t *testing.T) {
	t.Parallel()
	s, out, c := newTest(t, Config{Interval: time.Minute, Passthrough: 3})
	for i := range 10 {
		s.ErrorLog().Printf("http: Accept error: too many open files %d", i)
	}
	got := lines(out.String())
	if len(got) != 3 || !strings.Contains(got[0], `msg="http: Accept error: too many open files 0"`) {
		t.Fatalf("passed through:\n%s", out.String())
	}
	c.t = c.t.Add(time.Minute)
	s.Flush()
	got = lines(out.String())
	if len(got) != 4 || !strings.Contains(got[3], "server_error_lines_held_back=7") {
		t.Fatalf("held-back lines not counted:\n%s", out.String())
	}
	// The next interval passes lines through again.
	s.ErrorLog().Print("http: Accept error: again")
	if !strings.Contains(out.String(), "again") {
		t.Fatal("pass-through did not start afresh")
	}
}

func TestRefusedRequestsAndBounds(t *testing.T) {
	t.Parallel()
	s, out, c := newTest(t, Config{})
	for i := range maxReasons + 10 {
		s.Count("bad origin", "[2001:db8::1]:443", fmt.Sprintf("origin https://evil%d.example", i))
	}
	for i := range maxAddresses + 100 {
		s.Count("request without session", fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255), "")
	}
	// An address seen before the cap is still counted after it.
	s.Count("bad origin", "2001:db8::1", "")
	s.mu.Lock()
	na, nr := len(s.addrs), len(s.reasons)
	s.mu.Unlock()
	if na > maxAddresses || nr > maxReasons+1 {
		t.Fatalf("tracked %d addresses and %d reasons, over the caps", na, nr)
	}
	c.t = c.t.Add(DefaultInterval)
	s.Flush()
	got := out.String()
	for _, want := range []string{
		fmt.Sprintf("request_without_session=%d", maxAddresses+100), fmt.Sprintf("bad_origin=%d", maxReasons+11),
		fmt.Sprintf(`addresses="more than %d"`, maxAddresses), "2001:db8::1 (43)", "other reasons (10)",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("summary lacks %q:\n%s", want, got)
		}
	}
}

// TestRealServerHandshakeFailures runs a real TLS server with the
// summarizer as its ErrorLog and makes real connections fail their
// handshake: plain HTTP, garbage, and hang-ups. No line appears per
// failure; Run's summary at shutdown counts them.
func TestRealServerHandshakeFailures(t *testing.T) {
	t.Parallel()
	var out testenv.Buffer
	s := New(slog.New(slog.NewTextHandler(&out, nil)), Config{Interval: time.Hour})
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	srv.Config.ErrorLog = s.ErrorLog()
	srv.StartTLS()
	defer srv.Close()
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()

	addr := srv.Listener.Addr().String()
	const n = 60
	for i := range n {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		switch i % 3 {
		case 0:
			fmt.Fprintf(conn, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		case 1:
			conn.Write(bytes.Repeat([]byte{0x16, 0x03}, 10))
		}
		conn.Close()
	}
	// A good client still gets through.
	cl := srv.Client()
	cl.Transport.(*http.Transport).TLSClientConfig = &tls.Config{InsecureSkipVerify: true}
	if resp, err := cl.Get(srv.URL); err != nil {
		t.Fatal(err)
	} else {
		resp.Body.Close()
	}
	testenv.WaitFor(t, "the server to report every failed handshake", 10*time.Second, func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.kinds[KindTLSHandshake] >= n
	})
	if strings.Contains(out.String(), "TLS handshake error") {
		t.Fatalf("a handshake failure was written as a line:\n%s", out.String())
	}
	stop()
	<-done
	got := lines(out.String())
	if len(got) != 1 || !strings.Contains(got[0], fmt.Sprintf("tls_handshake_failed=%d", n)) || !strings.Contains(got[0], "top_addresses=\"127.0.0.1 (60)\"") {
		t.Fatalf("want one summary of %d failures from 127.0.0.1, got:\n%s", n, out.String())
	}
}
