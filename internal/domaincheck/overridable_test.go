package domaincheck

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"testing"

	"github.com/carto-setup/carto-setup/internal/check"
)

// TestOverridable is the domain step's overridability table: every
// failure can be overridden, because DNS records, firewalls and NAT can be
// set up after the check (and a demo has no public name at all), and the
// admin decides when. The table runs each probe classification and the
// resolution failures against an in-test DNS server.
func TestOverridable(t *testing.T) {
	t.Parallel()
	const d = "carto.example.com"
	url := "http://" + d + NoncePath + "x"
	errs := map[string]error{
		"no such host":   &net.DNSError{Err: "no such host", Name: d, IsNotFound: true},
		"dns timeout":    &net.DNSError{Err: "timeout", Name: d, IsTimeout: true},
		"refused":        &net.OpError{Op: "dial", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)},
		"timeout":        context.DeadlineExceeded,
		"unreachable":    &net.OpError{Op: "dial", Err: os.NewSyscallError("connect", syscall.EHOSTUNREACH)},
		"reset":          io.ErrUnexpectedEOF,
		"cancelled":      context.Canceled,
		"something else": errors.New("boom"),
	}
	var all []check.Result
	for _, err := range errs {
		p := probeError(d, url, "", err)
		all = append(all, p.Result)
		no := false
		all = append(all, Combine(p, &no), Combine(p, nil))
	}
	all = append(all, BrowserResult(d, nil))
	resolver := startDNS(t, map[string][]string{"servfail.example.com": {servfail}, "private.example.com": {"10.0.0.9"}})
	for _, name := range []string{"missing.example.com", "servfail.example.com", "private.example.com"} {
		all = append(all, Resolve(context.Background(), resolver, name, []net.IP{net.ParseIP("203.0.113.5")})...)
	}
	failures := 0
	for _, r := range all {
		if r.Status == check.Fail {
			failures++
		}
		if r.Fixed {
			t.Errorf("%s %s (%s) is fixed", r.ID, r.Status, r.Measured)
		}
	}
	if failures < len(errs) {
		t.Errorf("only %d failures among %d results: the table does not exercise the failures", failures, len(all))
	}
}
