package domaincheck

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// fakeClock is a settable clock for Nonces.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newClock() *fakeClock { return &fakeClock{t: time.Date(2026, 11, 22, 7, 0, 0, 0, time.UTC)} }

func TestNoncesLifetime(t *testing.T) {
	clock := newClock()
	n := NewNonces(clock.Now, 0)
	a := n.New()
	if !isNonce(a) {
		t.Fatalf("New() = %q, want 32 lower-case hex characters", a)
	}
	if b := n.New(); b == a {
		t.Fatalf("New() returned %q twice", a)
	}
	if !n.Valid(a) {
		t.Fatalf("fresh nonce not valid")
	}
	if n.Valid("00000000000000000000000000000000") {
		t.Errorf("unknown nonce valid")
	}
	clock.Advance(DefaultNonceTTL - time.Second)
	if !n.Valid(a) {
		t.Errorf("nonce expired before its TTL")
	}
	clock.Advance(time.Second)
	if n.Valid(a) {
		t.Errorf("nonce still valid at its TTL")
	}
	// New prunes expired entries.
	n.New()
	n.mu.Lock()
	size := len(n.live)
	n.mu.Unlock()
	if size != 1 {
		t.Errorf("after expiry and New, %d nonces are kept, want 1", size)
	}
}

func TestNoncesConcurrent(t *testing.T) {
	n := NewNonces(time.Now, time.Minute)
	h := NonceHandler(n, nil)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 50 {
				nonce := n.New()
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, NoncePath+nonce, nil))
				if rec.Code != http.StatusOK || !n.Valid(nonce) || len(n.Hits(nonce)) != 1 {
					t.Errorf("nonce %s: status %d, hits %d", nonce, rec.Code, len(n.Hits(nonce)))
				}
			}
		})
	}
	wg.Wait()
}

func TestNonceHandler(t *testing.T) {
	clock := newClock()
	n := NewNonces(clock.Now, time.Minute)
	valid := n.New()
	expired := n.New()
	n.live[expired].expires = clock.Now() // expires now
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusTeapot)
	})

	tests := []struct {
		name       string
		method     string
		path       string
		header     http.Header
		next       http.Handler
		wantStatus int
		wantBody   string
		wantMarker string
		wantProxy  string // Proxy of the recorded hit; "-" when no hit is recorded
	}{
		{"valid nonce", http.MethodGet, NoncePath + valid, nil, nil, 200, valid, valid, ""},
		{"head", http.MethodHead, NoncePath + valid, nil, nil, 200, "", valid, ""},
		{"through Cloudflare", http.MethodGet, NoncePath + valid, http.Header{"Cf-Connecting-Ip": {"198.51.100.1"}}, nil, 200, valid, valid, "Cloudflare (CF-Connecting-IP)"},
		{"through a proxy", http.MethodGet, NoncePath + valid, http.Header{"X-Forwarded-For": {"198.51.100.1"}}, nil, 200, valid, valid, "a proxy (X-Forwarded-For)"},
		{"unknown nonce", http.MethodGet, NoncePath + "0123456789abcdef0123456789abcdef", nil, nil, 404, "", UnknownNonce, "-"},
		{"expired nonce", http.MethodGet, NoncePath + expired, nil, nil, 404, "", UnknownNonce, "-"},
		{"malformed nonce", http.MethodGet, NoncePath + "../../etc/passwd", nil, nil, 404, "", UnknownNonce, "-"},
		{"post", http.MethodPost, NoncePath + valid, nil, nil, 405, "", "", "-"},
		{"other path, no next", http.MethodGet, "/", nil, nil, 404, "", "", "-"},
		{"other path, next", http.MethodGet, "/.well-known/acme-challenge/x", nil, next, http.StatusTeapot, "", "", "-"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(n.Hits(valid))
			req := httptest.NewRequest(tt.method, tt.path, nil)
			for k, v := range tt.header {
				req.Header[k] = v
			}
			rec := httptest.NewRecorder()
			NonceHandler(n, tt.next).ServeHTTP(rec, req)
			res := rec.Result()
			body, _ := io.ReadAll(res.Body)
			if res.StatusCode != tt.wantStatus {
				t.Errorf("status = %d, want %d", res.StatusCode, tt.wantStatus)
			}
			if tt.wantStatus == 200 && string(body) != tt.wantBody {
				t.Errorf("body = %q, want %q", body, tt.wantBody)
			}
			if got := res.Header.Get(NonceHeader); got != tt.wantMarker {
				t.Errorf("%s = %q, want %q", NonceHeader, got, tt.wantMarker)
			}
			if tt.wantStatus == 200 {
				if got := res.Header.Get("Cache-Control"); got != "no-store" {
					t.Errorf("Cache-Control = %q", got)
				}
				if got := res.Header.Get("Access-Control-Allow-Origin"); got != "*" {
					t.Errorf("Access-Control-Allow-Origin = %q", got)
				}
			}
			hits := n.Hits(valid)
			switch {
			case tt.wantProxy == "-" && len(hits) != before:
				t.Errorf("a hit was recorded")
			case tt.wantProxy != "-" && len(hits) != before+1:
				t.Errorf("hits = %d, want %d", len(hits), before+1)
			case tt.wantProxy != "-":
				h := hits[len(hits)-1]
				if h.Proxy != tt.wantProxy || h.Remote == "" || !h.At.Equal(clock.Now()) {
					t.Errorf("hit = %+v, want proxy %q", h, tt.wantProxy)
				}
			}
		})
	}
	if n.Hits(expired) != nil {
		t.Errorf("expired nonce has hits")
	}
}

func TestNonceHitsBounded(t *testing.T) {
	n := NewNonces(time.Now, time.Minute)
	nonce := n.New()
	h := NonceHandler(n, nil)
	for range maxHits + 5 {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, NoncePath+nonce, nil))
	}
	if got := len(n.Hits(nonce)); got != maxHits {
		t.Errorf("hits = %d, want %d", got, maxHits)
	}
}
