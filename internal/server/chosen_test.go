package server

import (
	"net/http"
	"strings"
	"testing"

	"github.com/carto-setup/carto-setup/internal/wizard"
)

// TestShortChosenPasswordRefused: a password the admin chooses for the
// embedded database or cache under 8 characters is refused beside its
// field, nothing is saved, and the page does not echo it.
func TestShortChosenPasswordRefused(t *testing.T) {
	f := newFixture(t)
	f.deps.Store.Update(func(st *wizard.State) error {
		st.MarkDone(wizard.Preflight)
		st.MarkDone(wizard.Package)
		st.MarkDone(wizard.Domain)
		return nil
	})
	res, doc, body := f.postMultipart(t, "/steps/database", map[string]string{
		"db_mode": "embedded", "admin_password": "x9/", "workspace_password": "long-enough-Workspace-1",
		"cache_mode": "embedded", "cache_password": "c4$h", "action": "next",
	}, nil)
	if res.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("short passwords: %d, want 422", res.StatusCode)
	}
	for _, field := range []string{"admin_password", "cache_password"} {
		if msg := doc.Find("#e-" + field).Text(); !strings.Contains(msg, "at least 8 characters") {
			t.Errorf("%s: error %q, want the length rule (page: %.500s)", field, msg, body)
		}
	}
	if strings.Contains(body, "x9/") || strings.Contains(body, "c4$h") {
		t.Error("the page echoes a typed password")
	}
	if st, _ := f.deps.Store.Load(); st.Database.AdminPassword != "" || st.Done[wizard.Database] {
		t.Errorf("a refused form was saved: %+v", st.Database)
	}
}
