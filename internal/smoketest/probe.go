package smoketest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// ProbeCommand is the carto-setup subcommand that runs inside the probe
// container; its arguments are the URLs to ask.
const ProbeCommand = "smoke-probe"

// Probe asks each URL with GET and "Carto-Monitoring: true" and writes one
// JSON Answer per line to w. It runs inside a FROM-scratch container on the
// Compose network, where the service names resolve.
func Probe(ctx context.Context, urls []string, timeout time.Duration, w io.Writer) error {
	c := &http.Client{Timeout: timeout, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	enc := json.NewEncoder(w)
	for _, u := range urls {
		a := Answer{URL: u}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			a.Error = "not a valid URL"
		} else {
			req.Header.Set("Carto-Monitoring", "true")
			resp, err := c.Do(req)
			if err != nil {
				a.Error = probeReason(err)
			} else {
				io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
				resp.Body.Close()
				a.Status = resp.StatusCode
			}
		}
		if err := enc.Encode(a); err != nil {
			return err
		}
	}
	return nil
}

func probeReason(err error) string {
	var dns *net.DNSError
	var ne net.Error
	switch {
	case errors.As(err, &dns):
		return "the service name does not resolve in the Compose network (no such container)"
	case errors.As(err, &ne) && ne.Timeout():
		return "no answer before the timeout"
	case strings.Contains(err.Error(), "connection refused"):
		return "the connection was refused (nothing listens on that port)"
	}
	return "the request failed"
}

// ParseAnswers reads the probe's output; lines that are not answers (a
// terminal's carriage returns, a panic) are skipped.
func ParseAnswers(out []byte) []Answer {
	var answers []Answer
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		var a Answer
		if len(line) > 0 && line[0] == '{' && json.Unmarshal(line, &a) == nil && a.URL != "" {
			answers = append(answers, a)
		}
	}
	return answers
}

// HealthTargets derives the in-network health endpoints from .env: every
// *_INTERNAL_URL that names a service of the release (host:port or a URL),
// plus workspace-api:3000, the one port CARTO's Docker release is known to
// use, when .env names no workspace-api. Services that are not expected are
// left out.
func HealthTargets(env map[string]string, expected []string) []Target {
	seen := map[string]bool{}
	var out []Target
	add := func(service, hostport string) {
		if seen[service] || !slices.Contains(expected, service) {
			return
		}
		seen[service] = true
		out = append(out, Target{Service: service, URL: "http://" + hostport + "/health"})
	}
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if !strings.HasSuffix(k, "_INTERNAL_URL") {
			continue
		}
		v := strings.Trim(strings.TrimSpace(env[k]), `"'`)
		if strings.Contains(v, "://") {
			u, err := url.Parse(v)
			if err != nil {
				continue
			}
			v = u.Host
		}
		host, _, err := net.SplitHostPort(v)
		if err != nil {
			continue
		}
		add(host, v)
	}
	add("workspace-api", "workspace-api:3000")
	slices.SortFunc(out, func(a, b Target) int { return strings.Compare(a.Service, b.Service) })
	return out
}
