package server

import (
	"context"
	"net/http"
	"sync/atomic"
)

// Refusals counts refused requests for a periodic, rate-limited summary
// (logsummary.Summarizer) instead of one log line each: under a scan or a
// token brute force, one line per request buried the lines that matter,
// such as a lockout.
type Refusals interface {
	Count(kind, addr, reason string)
}

// The kinds of refusal the summary counts.
const (
	refusedHost        = "refused host"
	refusedCrossOrigin = "refused cross-origin"
	refusedNoSession   = "no session"
	refusedWrongToken  = "wrong token"
	refusedThrottled   = "sign-in throttled"
	refusedLocked      = "sign-in to a locked wizard"
	refusedWebsocket   = "refused websocket upgrade"
)

// quietKey marks, in a request's context, a flag that a refusal sets so
// that logRequests writes no line for the request: it was counted.
type quietKey struct{}

// refuse counts a refused request. The reason must never hold what the
// client sent as a secret (a token): it is logged in the summary. Without
// Refusals, it logs one warning, as before.
func (d *Deps) refuse(r *http.Request, kind, reason string) {
	if q, ok := r.Context().Value(quietKey{}).(*atomic.Bool); ok && d.Refusals != nil {
		q.Store(true)
	}
	if d.Refusals != nil {
		d.Refusals.Count(kind, r.RemoteAddr, reason)
		return
	}
	d.Log.Warn(kind, "reason", reason, "remote", r.RemoteAddr)
}

// withQuietFlag returns r carrying a fresh quiet flag, and the flag.
func withQuietFlag(r *http.Request) (*http.Request, *atomic.Bool) {
	q := new(atomic.Bool)
	return r.WithContext(context.WithValue(r.Context(), quietKey{}, q)), q
}
