package steps

import (
	"testing"

	"github.com/carto-setup/carto-setup/internal/wizard"
)

// TestChosenPasswordsAreLongEnough: the passwords the admin chooses for the
// embedded database and cache are refused under redact.MinChosenSecret
// characters; an external system's password is what it is.
func TestChosenPasswordsAreLongEnough(t *testing.T) {
	t.Parallel()
	short, long := "ab/1", "a-Long-enough-1"
	for _, tc := range []struct {
		name  string
		form  DatabaseForm
		field string // "" when nothing is refused
	}{
		{"embedded admin", DatabaseForm{DB: &wizard.DatabaseInput{Mode: wizard.ModeEmbedded, AdminPassword: short, WorkspacePassword: long}}, "admin_password"},
		{"embedded workspace", DatabaseForm{DB: &wizard.DatabaseInput{Mode: wizard.ModeEmbedded, AdminPassword: long, WorkspacePassword: short}}, "workspace_password"},
		{"embedded cache", DatabaseForm{Cache: &wizard.CacheInput{Mode: wizard.ModeEmbedded, Port: 6379, Password: short}}, "cache_password"},
		{"embedded, long", DatabaseForm{DB: &wizard.DatabaseInput{Mode: wizard.ModeEmbedded, AdminPassword: long, WorkspacePassword: long},
			Cache: &wizard.CacheInput{Mode: wizard.ModeEmbedded, Password: long}}, ""},
		{"embedded, none typed", DatabaseForm{DB: &wizard.DatabaseInput{Mode: wizard.ModeEmbedded}, Cache: &wizard.CacheInput{Mode: wizard.ModeEmbedded}}, ""},
		{"external database", DatabaseForm{DB: &wizard.DatabaseInput{Mode: wizard.ModeExternal, Host: "db", AdminPassword: short, WorkspacePassword: short}}, ""},
		{"external cache", DatabaseForm{Cache: &wizard.CacheInput{Mode: wizard.ModeExternal, Host: "redis", Password: short}}, ""},
	} {
		errs := tc.form.Validate()
		if tc.field == "" {
			if len(errs) > 0 {
				t.Errorf("%s: refused: %v", tc.name, errs)
			}
			continue
		}
		if len(errs) != 1 || errs[tc.field] == "" {
			t.Errorf("%s: errors %v, want one on %s", tc.name, errs, tc.field)
		}
	}
}
