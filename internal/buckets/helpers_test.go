package buckets

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/carto-setup/carto-setup/internal/check"
)

// testRunner returns a runner with a short per-call timeout and clock.
func testRunner(timeout time.Duration, now func() time.Time) runner {
	if now == nil {
		now = time.Now
	}
	return runner{client: newHTTPClient(), timeout: timeout, now: now}
}

// byID indexes results; a duplicated ID fails the test.
func byID(t *testing.T, results []check.Result) map[string]check.Result {
	t.Helper()
	m := map[string]check.Result{}
	for _, r := range results {
		if _, dup := m[r.ID]; dup {
			t.Errorf("duplicate result ID %s", r.ID)
		}
		if r.Step != Step {
			t.Errorf("result %s has step %q", r.ID, r.Step)
		}
		m[r.ID] = r
	}
	return m
}

// want is one expected result: its status and the kind in Measured.
type want struct {
	status check.Status
	kind   string // prefix of Measured; "" to skip
	field  string // "-" to skip
}

func assertResults(t *testing.T, results []check.Result, wants map[string]want) {
	t.Helper()
	got := byID(t, results)
	for id, w := range wants {
		r, ok := got[id]
		if !ok {
			t.Errorf("no result %s; got %v", id, ids(results))
			continue
		}
		if r.Status != w.status {
			t.Errorf("%s: status %s, want %s (measured %q, message %q)", id, r.Status, w.status, r.Measured, r.Message)
		}
		if w.kind != "" && !strings.HasPrefix(r.Measured, w.kind) {
			t.Errorf("%s: measured %q, want kind %s", id, r.Measured, w.kind)
		}
		if w.field != "-" && r.Field != w.field {
			t.Errorf("%s: field %q, want %q", id, r.Field, w.field)
		}
	}
	for id := range got {
		if _, ok := wants[id]; !ok {
			t.Errorf("unexpected result %s: %+v", id, got[id])
		}
	}
}

func ids(results []check.Result) []string {
	var out []string
	for _, r := range results {
		out = append(out, r.ID)
	}
	return out
}

// assertNoSecret fails if any result text contains one of secrets.
func assertNoSecret(t *testing.T, results []check.Result, secrets ...string) {
	t.Helper()
	for _, r := range results {
		for _, s := range secrets {
			if s == "" {
				continue
			}
			for _, text := range []string{r.Message, r.Hint, r.Measured, r.Required} {
				if strings.Contains(text, s) {
					t.Errorf("result %s leaks a secret: %q", r.ID, text)
				}
			}
		}
	}
}

// stalledListener accepts connections on loopback and never answers, like a
// firewall that drops packets after the handshake.
func stalledListener(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return "http://" + ln.Addr().String()
}

// closedEndpoint returns a loopback address nothing listens on.
func closedEndpoint(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}

func runWith(t *testing.T, r runner, cfg Config) []check.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return r.run(ctx, cfg)
}
