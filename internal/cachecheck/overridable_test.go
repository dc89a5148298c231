package cachecheck

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/carto-setup/carto-setup/internal/check"
	"github.com/carto-setup/carto-setup/internal/pgtest"
	"github.com/carto-setup/carto-setup/internal/redistest"
)

// TestOverridable is the cache step's overridability table: every failure
// kind through the classifier that words it, at the stage it belongs to.
func TestOverridable(t *testing.T) {
	t.Parallel()
	kinds := []struct {
		kind  Kind
		stage string
		fixed bool
	}{
		{Unknown, IDConnect, false},
		{NotResolved, IDConnect, false},
		{Refused, IDConnect, false},
		{Unreachable, IDConnect, false},
		{Timeout, IDConnect, false},
		{Closed, IDPing, false},
		{NotTLS, IDTLS, true},
		{UnknownCA, IDTLS, false},
		{NameMismatch, IDTLS, false},
		{Expired, IDTLS, false},
		{TLSFailed, IDTLS, false},
		{ClientCertRequired, IDTLS, true},
		{NoAuth, IDAuth, true},
		{WrongPassword, IDAuth, true},
		{NoPasswordConfigured, IDAuth, false}, // a warning
		{Denied, IDPing, true},
		{Unavailable, IDPing, false},
		{NotRedis, IDPing, true},
	}
	s := &session{cfg: Config{Host: "cache.example.com", Port: 6379}}
	for _, tt := range kinds {
		out, _ := s.failed(nil, tt.stage, &CheckError{Kind: tt.kind, Err: errors.New(tt.kind.String())})
		r := out[0]
		if r.Fixed != tt.fixed || r.Fixed != tt.kind.Fixed() && r.Status == check.Fail {
			t.Errorf("%s at %s: %s fixed=%v, want fixed=%v", tt.kind, tt.stage, r.Status, r.Fixed, tt.fixed)
		}
		if r.Fixed && r.Status != check.Fail {
			t.Errorf("%s: a %s result is fixed", tt.kind, r.Status)
		}
	}
	rs := Run(context.Background(), Config{Host: "", Port: 70000})
	for _, r := range rs {
		if r.ID != IDConfig || !r.Fixed {
			t.Errorf("config problem %s fixed=%v, want a fixed cache.config", r.ID, r.Fixed)
		}
	}
	if r := versionResult("redis_version:5.0.7\r\n"); r.Status != check.Fail || r.Fixed {
		t.Errorf("old Redis: %s fixed=%v, want an overridable failure", r.Status, r.Fixed)
	}
}

// TestOverridableLive holds real servers to the table: a rejected or
// missing password and mutual TLS cannot be overridden, an unknown CA can.
func TestOverridableLive(t *testing.T) {
	t.Parallel()
	locked := redistest.Start(t, redistest.Options{Password: "s3cret"})
	tlsSrv := redistest.Start(t, redistest.Options{TLS: true, CertHosts: []string{"localhost"}})
	mtls := redistest.Start(t, redistest.Options{ClientCert: true})
	other := pgtest.NewCA(t)
	tests := []struct {
		name  string
		cfg   Config
		id    string
		fixed bool
	}{
		{"wrong password", Config{Host: locked.Host, Port: locked.Port, Password: "nope"}, IDAuth, true},
		{"password missing", Config{Host: locked.Host, Port: locked.Port}, IDAuth, true},
		{"client certificate", Config{Host: "localhost", Port: mtls.Port, TLS: true, CAPEM: mtls.CAPEM}, IDTLS, true},
		{"unknown CA", Config{Host: "localhost", Port: tlsSrv.Port, TLS: true, CAPEM: other.PEM}, IDTLS, false},
	}
	for _, tt := range tests {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		rs := Run(ctx, tt.cfg)
		cancel()
		last := rs[len(rs)-1]
		if last.ID != tt.id || last.Status != check.Fail || last.Fixed != tt.fixed {
			t.Errorf("%s: %s %s fixed=%v (%s), want a failure of %s with fixed=%v", tt.name, last.ID, last.Status, last.Fixed, last.Message, tt.id, tt.fixed)
		}
	}
}
