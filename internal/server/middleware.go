package server

import (
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/go-chi/chi/v5/middleware"
)

// csp allows only the wizard's own scripts, styles and connections; no
// inline script anywhere.
const csp = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'"

// securityHeaders sets the headers every response carries. HSTS is sent only
// once the wizard serves a certificate browsers trust: pinning HSTS to a
// self-signed certificate would lock the admin out when it changes.
func (d *Deps) securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		if !d.SelfSigned {
			h.Set("Strict-Transport-Security", "max-age=31536000")
		}
		next.ServeHTTP(w, r)
	})
}

// hostCheck refuses requests whose Host header is not one of the wizard's
// own names: a DNS-rebinding page would send its own host name.
func (d *Deps) hostCheck(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !d.hostAllowed(r.Host) {
			d.refuse(r, refusedHost, "Host "+r.Host)
			http.Error(w, "This host name is not one of the wizard's. Use the address printed on the VM's console.", http.StatusMisdirectedRequest)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// crossOrigin rejects cross-origin unsafe requests (CSRF) with Go's
// CrossOriginProtection, and says why in the log.
func (d *Deps) crossOrigin(next http.Handler) http.Handler {
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d.refuse(r, refusedCrossOrigin, r.Method+" "+r.URL.Path+" from origin "+r.Header.Get("Origin"))
		http.Error(w, "Cross-origin request refused.", http.StatusForbidden)
	}))
	return cop.Handler(next)
}

// requireSession lets a request through only with a valid session cookie;
// a browser without one is sent to the sign-in page, anything else gets 401.
func (d *Deps) requireSession(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c, err := r.Cookie(SessionCookie); err == nil && d.Auth.Session(c.Value) {
			next.ServeHTTP(w, r)
			return
		}
		d.refuse(r, refusedNoSession, r.Method+" "+r.URL.Path)
		if (r.Method == http.MethodGet || r.Method == http.MethodHead) && !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
			http.Redirect(w, r, "/signin", http.StatusSeeOther)
			return
		}
		http.Error(w, "Sign in first.", http.StatusUnauthorized)
	})
}

// logRequests logs one line per request with its ID, status and duration,
// except for refused requests, which Refusals counts instead. Query strings
// are left out: the sign-in link carries the token there.
func (d *Deps) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
		r, quiet := withQuietFlag(r)
		next.ServeHTTP(ww, r)
		if quiet.Load() {
			return
		}
		d.Log.Info("request", "request_id", middleware.GetReqID(r.Context()), "method", r.Method, "path", r.URL.Path,
			"status", ww.Status(), "duration", time.Since(start).Round(time.Microsecond), "remote", r.RemoteAddr)
	})
}

// clientAddr is the address sign-in attempts are counted against. The
// wizard is never behind a trusted proxy, so the TCP peer is the truth.
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
