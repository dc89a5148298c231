package deploy

import (
	"errors"
	"slices"
	"testing"

	"github.com/carto-setup/carto-setup/internal/check"
	"github.com/carto-setup/carto-setup/internal/wizard"
)

// TestValueChecksAgreeWithThePlan: for each hostile value, ValueChecks on
// the answers alone (with and without the package) fails with the check
// ID and the wizard field that NewPlan refuses with, and a value NewPlan
// writes passes both.
func TestValueChecksAgreeWithThePlan(t *testing.T) {
	dir := newRelease(t)
	tests := []struct {
		name   string
		change func(*wizard.State)
		id     string // "" when the value is writable
		field  string
	}{
		{"workspace password with ${...}", func(st *wizard.State) { st.Database.WorkspacePassword = "pw${HOME}x" },
			"install.customer_env.workspace_postgres_password", "workspace_password"},
		{"admin password with ' and $", func(st *wizard.State) { st.Database.AdminPassword = "it's$cash" },
			"install.customer_env.postgres_admin_password", "admin_password"},
		{"admin password with \\ and $", func(st *wizard.State) { st.Database.AdminPassword = `a\\b$c` },
			"install.customer_env.postgres_admin_password", "admin_password"},
		{"cache password with a line break", func(st *wizard.State) {
			st.Cache = wizard.CacheInput{Mode: wizard.ModeExternal, Host: "redis.example.com", Port: 6379, Password: "a\nREDIS_HOST=evil"}
		}, "install.customer_env.redis_password", "cache_password"},
		{"S3 secret ending in a backslash", func(st *wizard.State) {
			st.Buckets = wizard.BucketsInput{Mode: wizard.BucketsS3, Imports: wizard.BucketInput{Name: "acme-imports"},
				Thumbnails: wizard.BucketInput{Name: "acme-thumbs", Public: true}, S3Region: "eu-west-1", S3AccessKeyID: "AKIAFIXTURE0123", S3SecretAccessKey: `secret\`}
		}, "install.customer_env.workspace_imports_secretaccesskey", "s3_secret"},
		{"further setting with ${...}", func(st *wizard.State) {
			st.Advanced.Extra = []wizard.AdvancedVar{{Key: "LOG_LEVEL", Value: "${EVIL}"}}
		}, "install.advanced.extra.log_level", "advanced.extra.0.value"},
		{"further setting taking the domain", func(st *wizard.State) {
			st.Advanced.Extra = []wizard.AdvancedVar{{Key: "SELFHOSTED_DOMAIN", Value: "evil.example.com"}}
		}, "install.advanced.extra.selfhosted_domain", "advanced.extra.0.key"},
		{"further setting taking a bucket key the buckets step leaves alone", func(st *wizard.State) {
			st.Advanced.Extra = []wizard.AdvancedVar{{Key: "LOG_LEVEL", Value: "debug"}, {Key: "IMPORT_BUCKET", Value: "mine"}}
		}, "install.advanced.extra.import_bucket", "advanced.extra.1.key"},
		{"password with $ alone is writable", func(st *wizard.State) { st.Database.WorkspacePassword = "pa$$word" }, "", ""},
		{"password with ' alone is writable", func(st *wizard.State) { st.Database.WorkspacePassword = "it's" }, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := baseState(t)
			externalDB(&st)
			tc.change(&st)
			_, err := NewPlan(st, dir)
			var re *RefusedError
			if tc.id == "" {
				if err != nil {
					t.Fatalf("NewPlan refuses a writable value: %v", err)
				}
			} else if !errors.As(err, &re) || !hasFailure(re.Results, tc.id, tc.field) {
				t.Fatalf("NewPlan: %v, want %s on %s", err, tc.id, tc.field)
			}
			bare := st
			bare.Package = wizard.PackageInput{}
			for _, s := range []wizard.State{st, bare} {
				got := ValueChecks(s)
				if tc.id == "" && len(got) > 0 {
					t.Errorf("ValueChecks fails a writable value: %+v", got)
				}
				if tc.id != "" && !hasFailure(got, tc.id, tc.field) {
					t.Errorf("ValueChecks (package %v) = %+v, want %s on %s", s.Package.CustomerEnv != "", got, tc.id, tc.field)
				}
			}
		})
	}
}

func hasFailure(rs []check.Result, id, field string) bool {
	return slices.ContainsFunc(rs, func(r check.Result) bool { return r.ID == id && r.Field == field && r.Status == check.Fail })
}
