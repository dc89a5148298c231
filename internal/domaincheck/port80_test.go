package domaincheck

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/carto-setup/carto-setup/internal/testenv"
)

func TestDirectPort80(t *testing.T) {
	// Not port 80 itself: a listener on any address's port 80 makes the
	// preflight port check of tests running in parallel (which binds :80)
	// see the port in use. DirectPort80 binds whatever Addr says.
	addr := "127.77.0.5:" + strconv.Itoa(testenv.FreePort(t))
	nonces := NewNonces(time.Now, time.Minute)
	nonce := nonces.New()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stop, err := DirectPort80{Addr: addr}.Start(ctx, NonceHandler(nonces, nil))
	var le *ListenError
	if errors.As(err, &le) && le.Kind != ListenOther {
		testenv.Missing(t, "port 80 on "+addr, "run the tests as root or with CAP_NET_BIND_SERVICE: "+err.Error())
	}
	if err != nil {
		t.Fatalf("Start: %v", err)
	}

	resp, err := http.Get("http://" + addr + NoncePath + nonce)
	if err != nil {
		t.Fatalf("GET: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != nonce {
		t.Errorf("GET = %d %q, want 200 %q", resp.StatusCode, body, nonce)
	}

	// While it runs, a second bind of the same address is "in use".
	_, err = DirectPort80{Addr: addr}.Start(ctx, http.NotFoundHandler())
	if !errors.As(err, &le) || le.Kind != ListenInUse || le.Addr != addr {
		t.Errorf("second Start error = %v, want a ListenError of kind %s", err, ListenInUse)
	}

	stop()
	stop() // idempotent
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("port still held after stop: %v", err)
	}
	ln.Close()
}

func TestDirectPort80StopsWithContext(t *testing.T) {
	addr := "127.77.0.6:" + strconv.Itoa(testenv.FreePort(t))
	ctx, cancel := context.WithCancel(context.Background())
	stop, err := DirectPort80{Addr: addr}.Start(ctx, http.NotFoundHandler())
	var le *ListenError
	if errors.As(err, &le) && le.Kind != ListenOther {
		testenv.Missing(t, "port 80 on "+addr, "run the tests as root or with CAP_NET_BIND_SERVICE: "+err.Error())
	}
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	defer stop()
	cancel()
	deadline := time.Now().Add(3 * time.Second)
	for {
		ln, err := net.Listen("tcp", addr)
		if err == nil {
			ln.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("port still held after the context ended: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestListenErrorKind(t *testing.T) {
	opErr := func(errno syscall.Errno) error {
		return &net.OpError{Op: "listen", Net: "tcp", Err: os.NewSyscallError("bind", errno)}
	}
	tests := []struct {
		name string
		err  error
		want ListenErrorKind
	}{
		{"not root", opErr(syscall.EACCES), ListenPermission},
		{"not permitted", opErr(syscall.EPERM), ListenPermission},
		{"in use", opErr(syscall.EADDRINUSE), ListenInUse},
		{"no such address", opErr(syscall.EADDRNOTAVAIL), ListenOther},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := error(listenError(":80", tt.err))
			var le *ListenError
			if !errors.As(err, &le) || le.Kind != tt.want {
				t.Fatalf("kind = %v, want %s", le, tt.want)
			}
			if !errors.Is(err, tt.err) {
				t.Errorf("ListenError does not unwrap to the cause")
			}
			if got := err.Error(); got[:len("domaincheck: listen on :80: ")] != "domaincheck: listen on :80: " {
				t.Errorf("Error() = %q", got)
			}
		})
	}
}
