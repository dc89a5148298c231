package dbcheck

import (
	"fmt"
	"testing"

	"github.com/carto-setup/carto-setup/internal/check"
)

// TestOverridable is the database step's overridability table: every
// connection failure kind through the classifier that words it, and the
// other failing results, with whether an override may get past them.
func TestOverridable(t *testing.T) {
	t.Parallel()
	cfg := Config{Host: "db.example.com", Port: 5432, AdminUser: "postgres", AdminPassword: "pw", SSL: true}.withDefaults()
	far := progress{resolved: true, connected: true, tlsDone: true}
	kinds := []struct {
		kind  Kind
		id    string
		fixed bool
	}{
		{Unknown, IDConnect, false},
		{NotResolved, IDResolve, false},
		{Refused, IDConnect, false},
		{Unreachable, IDConnect, false},
		{Timeout, IDAuth, false},
		{Closed, IDConnect, false},
		{NoTLS, IDTLS, true},
		{UnknownCA, IDTLS, false},
		{NameMismatch, IDTLS, false},
		{Expired, IDTLS, false},
		{TLSFailed, IDTLS, false},
		{ClientCertRequired, IDTLS, true},
		{AuthFailed, IDAuth, true},
		{NoHBAEntry, IDAuth, false},
		{NoDatabase, IDAdminDatabase, true},
		{NoPrivilege, IDAdminDatabase, true},
		{TooManyConnections, IDConnect, false},
		{Unavailable, IDConnect, false},
	}
	for _, tt := range kinds {
		t.Run(tt.kind.String(), func(t *testing.T) {
			rs := connectFailure(cfg, &CheckError{Kind: tt.kind}, far, false)
			r := rs[len(rs)-1]
			if r.ID != tt.id || r.Fixed != tt.fixed || r.Fixed != tt.kind.Fixed() {
				t.Errorf("%s: %s fixed=%v, want %s fixed=%v", tt.kind, r.ID, r.Fixed, tt.id, tt.fixed)
			}
			if r.Status != check.Fail && r.Fixed {
				t.Errorf("%s: a %s result is marked fixed", tt.kind, r.Status)
			}
			for _, earlier := range rs[:len(rs)-1] {
				if earlier.Fixed {
					t.Errorf("%s: the passed stage %s is marked fixed", tt.kind, earlier.ID)
				}
			}
		})
	}

	others := []struct {
		name  string
		r     check.Result
		fixed bool
	}{
		{"version too old", versionResult(130000, "13.0"), false},
		{"privileges missing", privilegesResult(privileges{Name: "x"}), false},
		{"workspace role exists", workspaceRoleResult("w", true, false), false},
		{"encoding not UTF8", encodingResult("w", ptr("LATIN1"), ptr("UTF8")), false},
		{"pgcrypto not available", pgcryptoResult(false, nil), true},
		{"pgcrypto not allow-listed", pgcryptoResult(true, ptr("postgis")), true},
	}
	for _, tt := range others {
		if tt.r.Fixed != tt.fixed || tt.r.Status == check.Pass {
			t.Errorf("%s: %s %s fixed=%v, want a failure or warning with fixed=%v", tt.name, tt.r.ID, tt.r.Status, tt.r.Fixed, tt.fixed)
		}
	}

	rs, _ := Check(t.Context(), Config{Host: "", Port: 70000, AdminUser: "", AdminPassword: ""})
	if len(rs) == 0 {
		t.Fatal("an empty config yields no result")
	}
	for _, r := range rs {
		if r.ID != IDConfig || !r.Fixed {
			t.Errorf("config problem %s (%s) fixed=%v, want a fixed database.config", r.ID, r.Message, r.Fixed)
		}
	}
}

func ptr(s string) *string { return &s }

func ExampleKind_Fixed() {
	fmt.Println(AuthFailed.Fixed(), NoHBAEntry.Fixed())
	// Output: true false
}
