package acmeissue

import (
	"net/http"
	"strings"
	"sync"
)

// ChallengePath is the URL path prefix under which the certificate authority
// fetches HTTP-01 key authorizations, on port 80 of the domain.
const ChallengePath = "/.well-known/acme-challenge/"

// Responder publishes HTTP-01 challenge answers where the certificate
// authority will fetch them. Present must make keyAuth available at
// http://<domain>/.well-known/acme-challenge/<token> before it returns;
// CleanUp withdraws it once the challenge is over.
type Responder interface {
	Present(token, keyAuth string) error
	CleanUp(token string)
}

// HTTPResponder is a Responder that answers the challenges itself as an
// http.Handler, for mounting on port 80 (or in a helper container's server).
// The zero value is not usable; call NewHTTPResponder.
type HTTPResponder struct {
	mu       sync.Mutex
	keyAuths map[string]string
}

// NewHTTPResponder returns an HTTPResponder with no challenges.
func NewHTTPResponder() *HTTPResponder {
	return &HTTPResponder{keyAuths: make(map[string]string)}
}

// Present makes keyAuth the answer for token.
func (h *HTTPResponder) Present(token, keyAuth string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.keyAuths[token] = keyAuth
	return nil
}

// CleanUp forgets the answer for token.
func (h *HTTPResponder) CleanUp(token string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.keyAuths, token)
}

// ServeHTTP answers GET and HEAD requests for a presented token and replies
// 404 to anything else.
func (h *HTTPResponder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !h.serve(w, r) {
		http.NotFound(w, r)
	}
}

// Handler returns a handler that answers challenges and passes every other
// request to fallback, so the responder can share port 80 with the wizard or
// an HTTPS redirect.
func (h *HTTPResponder) Handler(fallback http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, ChallengePath) {
			fallback.ServeHTTP(w, r)
			return
		}
		h.ServeHTTP(w, r)
	})
}

func (h *HTTPResponder) serve(w http.ResponseWriter, r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	token, ok := strings.CutPrefix(r.URL.Path, ChallengePath)
	if !ok || token == "" || strings.Contains(token, "/") {
		return false
	}
	h.mu.Lock()
	keyAuth, ok := h.keyAuths[token]
	h.mu.Unlock()
	if !ok {
		return false
	}
	w.Header().Set("Content-Type", "text/plain")
	_, _ = w.Write([]byte(keyAuth))
	return true
}
