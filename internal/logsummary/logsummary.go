package logsummary

import (
	"cmp"
	"context"
	"fmt"
	"log"
	"log/slog"
	"maps"
	"net"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
)

// Defaults and bounds. The maps of addresses and reasons are capped so that
// a scan from a whole network costs bounded memory; what falls beyond the cap
// is still counted.
const (
	DefaultInterval    = time.Minute
	DefaultPassthrough = 10 // other ErrorLog lines shown per interval
	maxAddresses       = 4096
	maxReasons         = 32
	maxReasonLen       = 120
	topN               = 3
)

// Kinds of event a summary counts.
const (
	KindTLSHandshake = "tls handshake failed"
	KindOther        = "server error lines held back"
)

// Config sets up a Summarizer.
type Config struct {
	// Interval is the shortest time between two summaries; 0 means
	// DefaultInterval.
	Interval time.Duration
	// Passthrough is how many ErrorLog lines that are not handshake
	// failures are written as they come in each interval; the rest are
	// counted. 0 means DefaultPassthrough.
	Passthrough int
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Summarizer counts events and writes them to a slog.Logger as periodic
// summaries. It is safe for concurrent use. Call Run, or Flush yourself.
type Summarizer struct {
	log *slog.Logger
	cfg Config

	mu          sync.Mutex
	since       time.Time // start of the current window
	kinds       map[string]int
	addrs       map[string]int
	extraAddrs  bool // addresses beyond maxAddresses were seen
	reasons     map[string]int
	passedLines int
}

// New returns a Summarizer that writes to log.
func New(log *slog.Logger, cfg Config) *Summarizer {
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.Passthrough <= 0 {
		cfg.Passthrough = DefaultPassthrough
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Summarizer{log: log, cfg: cfg}
	s.reset(cfg.Now())
	return s
}

func (s *Summarizer) reset(now time.Time) {
	s.since = now
	s.kinds, s.addrs, s.reasons = map[string]int{}, map[string]int{}, map[string]int{}
	s.extraAddrs, s.passedLines = false, 0
}

// ErrorLog returns a *log.Logger for http.Server.ErrorLog. Each line it
// receives goes through Write.
func (s *Summarizer) ErrorLog() *log.Logger { return log.New(s, "", 0) }

// handshakeRe matches net/http's "http: TLS handshake error from ADDR: ERR".
var handshakeRe = regexp.MustCompile(`^http: TLS handshake error from (\S+): (.*)$`)

// Write takes one line of http.Server's error log. A failed TLS handshake
// is counted; any other line is written at warning level as long as fewer
// than Config.Passthrough were written this interval, and counted otherwise.
func (s *Summarizer) Write(p []byte) (int, error) {
	line := strings.TrimRight(string(p), "\r\n")
	if m := handshakeRe.FindStringSubmatch(line); m != nil {
		s.Count(KindTLSHandshake, m[1], m[2])
		return len(p), nil
	}
	s.mu.Lock()
	pass := s.passedLines < s.cfg.Passthrough
	if pass {
		s.passedLines++
	} else {
		s.kinds[KindOther]++
	}
	s.mu.Unlock()
	if pass {
		s.log.Warn(line)
	}
	return len(p), nil
}

// Count records one event of a kind from a client address (host or
// host:port) for a reason, for the next summary. The server calls it for
// the requests it refuses (no session, a bad Origin or Host, a wrong token)
// instead of writing a line each.
func (s *Summarizer) Count(kind, addr, reason string) {
	host := addr
	if h, _, err := net.SplitHostPort(addr); err == nil {
		host = h
	}
	reason = normaliseReason(reason)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.kinds[kind]++
	if host != "" {
		if _, ok := s.addrs[host]; ok || len(s.addrs) < maxAddresses {
			s.addrs[host]++
		} else {
			s.extraAddrs = true
		}
	}
	if reason != "" {
		if _, ok := s.reasons[reason]; !ok && len(s.reasons) >= maxReasons {
			reason = "other reasons"
		}
		s.reasons[reason]++
	}
}

// connRe matches the "read tcp A->B: " of network errors, which names the
// client's port and would make every reason unique.
var connRe = regexp.MustCompile(`\b(?:read|write) (?:tcp|tcp4|tcp6) \S+->\S+: `)

func normaliseReason(r string) string {
	r = strings.TrimSpace(connRe.ReplaceAllString(r, ""))
	if len(r) > maxReasonLen {
		r = r[:maxReasonLen] + "..."
	}
	return r
}

// Flush writes a summary of what was counted since the last one, if
// anything was and at least Config.Interval has passed, and starts a new
// window. It reports whether it wrote a line.
func (s *Summarizer) Flush() bool {
	return s.flush(false)
}

// flush writes the summary; force ignores the interval (for shutdown).
func (s *Summarizer) flush(force bool) bool {
	s.mu.Lock()
	now := s.cfg.Now()
	window := now.Sub(s.since)
	if (!force && window < s.cfg.Interval) || len(s.kinds) == 0 {
		if len(s.kinds) == 0 && window >= s.cfg.Interval {
			s.reset(now) // a quiet window: start the next one now
		}
		s.mu.Unlock()
		return false
	}
	attrs := []any{"window", window.Round(time.Second).String()}
	total := 0
	for _, k := range slices.Sorted(maps.Keys(s.kinds)) {
		attrs = append(attrs, strings.ReplaceAll(k, " ", "_"), s.kinds[k])
		total += s.kinds[k]
	}
	if len(s.addrs) > 0 {
		n := fmt.Sprint(len(s.addrs))
		if s.extraAddrs {
			n = "more than " + n
		}
		attrs = append(attrs, "addresses", n, "top_addresses", top(s.addrs))
	}
	if len(s.reasons) > 0 {
		attrs = append(attrs, "top_reasons", top(s.reasons))
	}
	s.reset(now)
	s.mu.Unlock()
	s.log.Warn(fmt.Sprintf("%d refused connections, requests and held-back lines (summary)", total), attrs...)
	return true
}

// top renders the topN entries of counts, the largest first.
func top(counts map[string]int) string {
	type kv struct {
		k string
		n int
	}
	var all []kv
	for k, n := range counts {
		all = append(all, kv{k, n})
	}
	slices.SortFunc(all, func(a, b kv) int {
		if c := cmp.Compare(b.n, a.n); c != 0 {
			return c
		}
		return strings.Compare(a.k, b.k)
	})
	var parts []string
	for _, e := range all[:min(topN, len(all))] {
		parts = append(parts, fmt.Sprintf("%s (%d)", e.k, e.n))
	}
	return strings.Join(parts, ", ")
}

// Run writes summaries every Config.Interval until ctx is done, and a last
// one then, so that nothing counted is lost at shutdown.
func (s *Summarizer) Run(ctx context.Context) {
	t := time.NewTicker(s.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			s.flush(true)
			return
		case <-t.C:
			s.flush(true) // the ticker is the rate limit
		}
	}
}
