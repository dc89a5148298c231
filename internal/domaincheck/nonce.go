package domaincheck

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"strings"
	"sync"
	"time"
)

// NoncePath is the URL path prefix under which nonces are served on port 80.
// It sits under /.well-known/ so that proxies and the ACME handler leave it
// alone.
const NoncePath = "/.well-known/carto-setup/"

// NonceHeader is the response header that carries the nonce next to the
// body. A proxy or CDN that rewrites bodies, or a cached page, rarely
// reproduces both.
const NonceHeader = "X-Carto-Setup-Nonce"

// UnknownNonce is the NonceHeader value of the 404 answer for a nonce that
// is not registered (or has expired).
const UnknownNonce = "unknown"

// DefaultNonceTTL is how long a nonce answers: long enough for the admin to
// open the test link, short enough that old links stop proving anything.
const DefaultNonceTTL = 5 * time.Minute

// maxHits bounds what a nonce remembers of the requests that fetched it.
const maxHits = 16

// Nonces holds the nonces port 80 currently answers for. It is safe for
// concurrent use. Use one nonce for the server's own probe and another for
// the admin's browser: the hits recorded for the browser's nonce then show
// that the browser got through, whether or not its script could read the
// answer.
type Nonces struct {
	now func() time.Time
	ttl time.Duration

	mu   sync.Mutex
	live map[string]*nonceEntry
}

type nonceEntry struct {
	expires time.Time
	hits    []Hit
}

// Hit is one request that fetched a nonce, as the handler saw it.
type Hit struct {
	At     time.Time
	Remote string // the peer address, host:port
	// Proxy names the proxy or CDN whose request headers were present
	// ("Cloudflare (CF-Connecting-IP)"), or is empty.
	Proxy string
}

// NewNonces returns an empty set. now is the clock (time.Now outside tests);
// ttl is how long each nonce stays valid, DefaultNonceTTL when zero.
func NewNonces(now func() time.Time, ttl time.Duration) *Nonces {
	if ttl <= 0 {
		ttl = DefaultNonceTTL
	}
	return &Nonces{now: now, ttl: ttl, live: map[string]*nonceEntry{}}
}

// New registers and returns a fresh nonce: 128 random bits in hex.
func (n *Nonces) New() string {
	b := make([]byte, 16)
	rand.Read(b) // crypto/rand.Read never fails; it crashes the program instead.
	nonce := hex.EncodeToString(b)

	n.mu.Lock()
	defer n.mu.Unlock()
	now := n.now()
	for k, e := range n.live {
		if !now.Before(e.expires) {
			delete(n.live, k)
		}
	}
	n.live[nonce] = &nonceEntry{expires: now.Add(n.ttl)}
	return nonce
}

// Valid reports whether nonce is registered and not expired.
func (n *Nonces) Valid(nonce string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.entry(nonce) != nil
}

// Hits returns the requests that fetched nonce while it was valid, oldest
// first. It is empty for an unknown or expired nonce.
func (n *Nonces) Hits(nonce string) []Hit {
	n.mu.Lock()
	defer n.mu.Unlock()
	e := n.entry(nonce)
	if e == nil {
		return nil
	}
	return append([]Hit(nil), e.hits...)
}

// hit records a request for nonce and reports whether the nonce is valid.
func (n *Nonces) hit(nonce string, h Hit) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	e := n.entry(nonce)
	if e == nil {
		return false
	}
	h.At = n.now()
	if len(e.hits) < maxHits {
		e.hits = append(e.hits, h)
	}
	return true
}

// entry returns the live entry for nonce; n.mu must be held.
func (n *Nonces) entry(nonce string) *nonceEntry {
	e, ok := n.live[nonce]
	if !ok {
		return nil
	}
	if !n.now().Before(e.expires) {
		delete(n.live, nonce)
		return nil
	}
	return e
}

// NonceHandler answers GET and HEAD /.well-known/carto-setup/<nonce> for
// valid nonces with the nonce as a text/plain body and in NonceHeader, and
// records the request as a Hit. Unknown nonces get 404. Other paths go to
// next (404 when next is nil), so the handler can wrap the ACME handler or a
// redirect to HTTPS on the same port.
//
// The answer allows any origin (CORS) and exposes NonceHeader, because the
// wizard page fetching it has another origin; the nonce is no secret, it only
// proves which server answered. A page served over HTTPS cannot fetch an
// http:// URL (mixed content), so the browser check also needs a plain link
// the admin opens; the recorded Hit then tells the server it worked.
func NonceHandler(nonces *Nonces, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		nonce, ok := strings.CutPrefix(r.URL.Path, NoncePath)
		if !ok {
			if next == nil {
				http.NotFound(w, r)
				return
			}
			next.ServeHTTP(w, r)
			return
		}
		h := w.Header()
		h.Set("Cache-Control", "no-store")
		h.Set("Access-Control-Allow-Origin", "*")
		h.Set("Access-Control-Expose-Headers", NonceHeader)
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			h.Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		if !isNonce(nonce) || !nonces.hit(nonce, Hit{Remote: r.RemoteAddr, Proxy: requestProxy(r.Header)}) {
			// The marker still says a carto-setup wizard answered, so a
			// probe can tell "another wizard" from "another server".
			h.Set(NonceHeader, UnknownNonce)
			http.NotFound(w, r)
			return
		}
		h.Set(NonceHeader, nonce)
		h.Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		if r.Method == http.MethodGet {
			w.Write([]byte(nonce))
		}
	})
}

// isNonce reports whether s has the shape New produces, so arbitrary paths
// never reach the map.
func isNonce(s string) bool {
	if len(s) != 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !(s[i] >= '0' && s[i] <= '9' || s[i] >= 'a' && s[i] <= 'f') {
			return false
		}
	}
	return true
}

// requestProxy names the proxy or CDN that forwarded a request, from the
// headers such proxies add on the way in.
func requestProxy(h http.Header) string {
	for _, p := range []struct{ header, name string }{
		{"CF-Connecting-IP", "Cloudflare"},
		{"CF-Ray", "Cloudflare"},
		{"CloudFront-Viewer-Address", "Amazon CloudFront"},
		{"Fastly-Client-IP", "Fastly"},
		{"X-Azure-FDID", "Azure Front Door"},
		{"True-Client-IP", "a CDN"},
		{"Via", "a proxy"},
		{"Forwarded", "a proxy"},
		{"X-Forwarded-For", "a proxy"},
	} {
		if h.Get(p.header) != "" {
			return p.name + " (" + p.header + ")"
		}
	}
	return ""
}
