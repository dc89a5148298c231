package relay

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/carto-setup/carto-setup/internal/testenv"
)

// listen returns a loopback listener closed when the test ends.
func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// target serves each connection accepted on a fresh listener with handle
// and returns the listener's address.
func target(t *testing.T, handle func(net.Conn)) string {
	t.Helper()
	ln := listen(t)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				handle(c)
			}()
		}
	}()
	return ln.Addr().String()
}

func echo(c net.Conn) { io.Copy(c, c) }

// startRelay runs Serve on a loopback listener until the test ends and
// returns its address, its log and a channel with Serve's result.
func startRelay(t *testing.T, cfg Config) (string, *testenv.Buffer, <-chan error) {
	t.Helper()
	ln := listen(t)
	logs := &testenv.Buffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	finished := make(chan struct{})
	go func() {
		done <- Serve(ctx, ln, cfg, slog.New(slog.NewTextHandler(logs, nil)))
		close(finished)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-finished:
		case <-time.After(5 * time.Second):
			t.Error("Serve did not return after cancel")
		}
	})
	return ln.Addr().String(), logs, done
}

func dial(t *testing.T, addr string) *net.TCPConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(5 * time.Second))
	return c.(*net.TCPConn)
}

// roundTrip sends msg and expects it echoed back.
func roundTrip(t *testing.T, c net.Conn, msg string) {
	t.Helper()
	if _, err := io.WriteString(c, msg); err != nil {
		t.Fatalf("write: %v", err)
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatalf("read: %v", err)
	}
	if string(got) != msg {
		t.Fatalf("echo = %q, want %q", got, msg)
	}
}

func TestRelayEcho(t *testing.T) {
	addr, logs, _ := startRelay(t, Config{To: target(t, echo)})
	c := dial(t, addr)
	roundTrip(t, c, "hello")
	big := strings.Repeat("0123456789abcdef", 16<<10) // 256 KiB, several buffers
	go io.WriteString(c, big)
	got := make([]byte, len(big))
	if _, err := io.ReadFull(c, got); err != nil || string(got) != big {
		t.Fatalf("large echo: %v (same: %v)", err, string(got) == big)
	}
	c.Close()
	want := fmt.Sprintf("sent=%d received=%d", 5+len(big), 5+len(big))
	testenv.WaitFor(t, "the connection's log line", 5*time.Second, func() bool { return strings.Contains(logs.String(), want) })
	if n := strings.Count(logs.String(), "msg=connection"); n != 1 {
		t.Errorf("%d connection lines, want 1:\n%s", n, logs)
	}
}

func TestRelayHalfClose(t *testing.T) {
	// The target answers only after the client has finished sending, as a
	// server reading a request to EOF does.
	to := target(t, func(c net.Conn) {
		b, err := io.ReadAll(c)
		if err != nil {
			return
		}
		fmt.Fprintf(c, "got %d bytes: %s", len(b), b)
	})
	addr, _, _ := startRelay(t, Config{To: to})
	c := dial(t, addr)
	io.WriteString(c, "request")
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("read after half-close: %v", err)
	}
	if string(got) != "got 7 bytes: request" {
		t.Errorf("answer = %q", got)
	}
}

func TestRelayConnectionLimit(t *testing.T) {
	addr, logs, _ := startRelay(t, Config{To: target(t, echo), MaxConns: 1})
	first := dial(t, addr)
	roundTrip(t, first, "one") // the only slot is now taken

	second := dial(t, addr)
	n, err := second.Read(make([]byte, 1))
	if n != 0 || err == nil {
		t.Fatalf("second connection read %d, %v; want it closed", n, err)
	}
	if !strings.Contains(logs.String(), `reason="too many connections"`) {
		t.Errorf("the refusal is not logged:\n%s", logs)
	}
	roundTrip(t, first, "still there")

	first.Close()
	// The slot frees once the first connection's copies end.
	testenv.WaitFor(t, "a free slot", 5*time.Second, func() bool {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return false
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(time.Second))
		if _, err := io.WriteString(c, "x"); err != nil {
			return false
		}
		b := make([]byte, 1)
		_, err = io.ReadFull(c, b)
		return err == nil && b[0] == 'x'
	})
}

func TestRelayProxyHeader(t *testing.T) {
	lines := make(chan string, 1)
	to := target(t, func(c net.Conn) {
		line, _ := bufio.NewReader(c).ReadString('\n')
		lines <- line
	})
	addr, _, _ := startRelay(t, Config{To: to, ProxyHeader: true})
	c := dial(t, addr)
	_, relayPort, _ := net.SplitHostPort(addr)
	_, clientPort, _ := net.SplitHostPort(c.LocalAddr().String())
	want := "PROXY TCP4 127.0.0.1 127.0.0.1 " + clientPort + " " + relayPort + "\r\n"
	select {
	case got := <-lines:
		if got != want {
			t.Errorf("header = %q, want %q", got, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no header arrived")
	}
}

func TestRelayIdleTimeout(t *testing.T) {
	addr, logs, _ := startRelay(t, Config{To: target(t, echo), IdleTimeout: 200 * time.Millisecond})
	c := dial(t, addr)
	roundTrip(t, c, "ping")
	start := time.Now()
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("read succeeded on a silent connection")
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("closed after %s, want about 200ms", d)
	}
	testenv.WaitFor(t, "the idle line", 5*time.Second, func() bool { return strings.Contains(logs.String(), "idle for 200ms") })
}

func TestRelayShutdownClosesConnections(t *testing.T) {
	ln := listen(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, ln, Config{To: target(t, echo)}, slog.New(slog.DiscardHandler)) }()
	c := dial(t, ln.Addr().String())
	roundTrip(t, c, "open")
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve = %v, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return with a connection open")
	}
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Error("the client connection is still open")
	}
}

func TestRelayWatchStopsWhenTargetIsGone(t *testing.T) {
	gone := listen(t)
	to := gone.Addr().String()
	gone.Close()
	_, _, done := startRelay(t, Config{To: to, Watch: 20 * time.Millisecond, DialTimeout: time.Second})
	select {
	case err := <-done:
		if !errors.Is(err, ErrTargetGone) {
			t.Errorf("Serve = %v, want ErrTargetGone", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve kept running with the target gone")
	}
}

func TestRelayDialFailureIsLogged(t *testing.T) {
	gone := listen(t)
	to := gone.Addr().String()
	gone.Close()
	addr, logs, _ := startRelay(t, Config{To: to})
	c := dial(t, addr)
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("the client was not closed")
	}
	testenv.WaitFor(t, "the dial error", 5*time.Second, func() bool { return strings.Contains(logs.String(), "error=\"dial: ") })
}

func TestMainUsage(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"no target", []string{"--listen", ":8080"}, "--to HOST:PORT is required"},
		{"target without port", []string{"--to", "172.17.0.1"}, "is not HOST:PORT"},
		{"bad listen", []string{"--listen", "8080", "--to", "h:1"}, "is not [HOST]:PORT"},
		{"no slots", []string{"--to", "h:1", "--max-conns", "0"}, "not a positive number"},
		{"negative watch", []string{"--to", "h:1", "--watch", "-1s"}, "must be positive"},
		{"extra argument", []string{"--to", "h:1", "extra"}, `unexpected argument "extra"`},
		{"unknown flag", []string{"--to", "h:1", "--port", "80"}, "flag provided but not defined"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := Main(context.Background(), tt.args, &stdout, &stderr); code != 2 {
				t.Errorf("exit code %d, want 2", code)
			}
			if !strings.Contains(stderr.String(), tt.wantErr) {
				t.Errorf("stderr %q does not contain %q", stderr.String(), tt.wantErr)
			}
		})
	}
}

func TestMainRuns(t *testing.T) {
	t.Run("runs until cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		stdout := &testenv.Buffer{}
		done := make(chan int, 1)
		go func() {
			done <- Main(ctx, []string{"--listen", "127.0.0.1:0", "--to", "127.0.0.1:9"}, stdout, io.Discard)
		}()
		testenv.WaitFor(t, "the listening line", 5*time.Second, func() bool { return strings.Contains(stdout.String(), "msg=listening") })
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("exit code %d, want 0", code)
		}
	})
	t.Run("cannot listen", func(t *testing.T) {
		busy := listen(t)
		var stderr bytes.Buffer
		code := Main(context.Background(), []string{"--listen", busy.Addr().String(), "--to", "127.0.0.1:9"}, io.Discard, &stderr)
		if code != 1 || !strings.Contains(stderr.String(), "relay: listen") {
			t.Errorf("exit code %d, stderr %q; want 1 and a listen error", code, stderr.String())
		}
	})
}
