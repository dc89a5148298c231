package dbcheck

import (
	"strings"
	"testing"

	"github.com/carto-setup/carto-setup/internal/check"
)

func TestVersionResult(t *testing.T) {
	tests := []struct {
		num  int
		text string
		want check.Status
	}{
		{90624, "9.6.24", check.Fail},
		{130002, "13.2", check.Fail},
		{139999, "13.99", check.Fail},
		{140000, "14.0", check.Pass},
		{150004, "15.4 (Debian 15.4-1)", check.Pass},
		{170000, "17.0", check.Pass},
	}
	for _, tt := range tests {
		r := versionResult(tt.num, tt.text)
		if r.Status != tt.want {
			t.Errorf("%s: status %s, want %s", tt.text, r.Status, tt.want)
		}
		if r.ID != IDVersion || r.Step != Step || r.Required != minVersionText || !strings.HasPrefix(r.Measured, tt.text) {
			t.Errorf("%s: result %+v", tt.text, r)
		}
	}
}

func TestPrivilegesResult(t *testing.T) {
	tests := []struct {
		name    string
		p       privileges
		want    check.Status
		measure string
	}{
		{"superuser", privileges{Name: "postgres", Super: true}, check.Pass, "SUPERUSER"},
		{"createrole and createdb", privileges{Name: "a", CreateRole: true, CreateDB: true}, check.Pass, "CREATEROLE, CREATEDB"},
		{"cloud sql", privileges{Name: "postgres", AdminRoles: []string{"cloudsqlsuperuser"}}, check.Pass, "member of cloudsqlsuperuser"},
		{"rds", privileges{Name: "admin", CreateRole: true, AdminRoles: []string{"rds_superuser"}}, check.Pass, "member of rds_superuser"},
		{"azure", privileges{Name: "carto", AdminRoles: []string{"azure_pg_admin"}}, check.Pass, "member of azure_pg_admin"},
		{"only createdb", privileges{Name: "a", CreateDB: true}, check.Fail, "CREATEDB"},
		{"only createrole", privileges{Name: "a", CreateRole: true}, check.Fail, "CREATEROLE"},
		{"nothing", privileges{Name: "a"}, check.Fail, "none"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := privilegesResult(tt.p)
			if r.Status != tt.want || r.Measured != tt.measure || r.Field != FieldAdminUser {
				t.Errorf("got %s %q field %q, want %s %q", r.Status, r.Measured, r.Field, tt.want, tt.measure)
			}
			if r.Status == check.Fail && !strings.Contains(r.Hint, "ALTER ROLE") {
				t.Errorf("hint %q lacks the fix", r.Hint)
			}
		})
	}
}

func TestWorkspaceResults(t *testing.T) {
	tests := []struct {
		name string
		r    check.Result
		want check.Status
	}{
		{"role absent", workspaceRoleResult("workspace_admin", false, false), check.Pass},
		{"role exists", workspaceRoleResult("workspace_admin", true, false), check.Warn},
		{"role is admin", workspaceRoleResult("postgres", true, true), check.Warn},
		{"db absent", workspaceDatabaseResult("workspace", false), check.Pass},
		{"db exists", workspaceDatabaseResult("workspace", true), check.Warn},
	}
	for _, tt := range tests {
		if tt.r.Status != tt.want {
			t.Errorf("%s: status %s, want %s", tt.name, tt.r.Status, tt.want)
		}
	}
}

func TestEncodingResult(t *testing.T) {
	s := func(v string) *string { return &v }
	tests := []struct {
		name     string
		db, tmpl *string
		want     check.Status
	}{
		{"existing utf8", s("UTF8"), s("SQL_ASCII"), check.Pass},
		{"existing latin1", s("LATIN1"), s("UTF8"), check.Fail},
		{"new, template utf8", nil, s("UTF8"), check.Pass},
		{"new, template sql_ascii", nil, s("SQL_ASCII"), check.Warn},
	}
	for _, tt := range tests {
		if r := encodingResult("workspace", tt.db, tt.tmpl); r.Status != tt.want {
			t.Errorf("%s: status %s, want %s", tt.name, r.Status, tt.want)
		}
	}
}

func TestPgcryptoResult(t *testing.T) {
	s := func(v string) *string { return &v }
	tests := []struct {
		name      string
		available bool
		allow     *string
		want      check.Status
	}{
		{"available", true, nil, check.Pass},
		{"missing", false, nil, check.Fail},
		{"azure allowed", true, s("POSTGIS, PGCRYPTO"), check.Pass},
		{"azure not allowed", true, s("postgis"), check.Fail},
		{"azure empty list", true, s(""), check.Fail},
	}
	for _, tt := range tests {
		if r := pgcryptoResult(tt.available, tt.allow); r.Status != tt.want {
			t.Errorf("%s: status %s, want %s", tt.name, r.Status, tt.want)
		}
	}
}

func TestConnectFailureTimeoutStage(t *testing.T) {
	cfg := Config{Host: "db.example.com", Port: 5432, AdminUser: "postgres", SSL: true, VMAddress: "203.0.113.7"}.withDefaults()
	tests := []struct {
		name      string
		st        progress
		wantID    string
		wantInMsg string
	}{
		{"dns", progress{}, IDResolve, "did not finish"},
		{"tcp", progress{resolved: true, localAddr: "10.0.0.2"}, IDConnect, "did not answer"},
		{"tls", progress{resolved: true, connected: true}, IDTLS, "TLS handshake"},
		{"login", progress{resolved: true, connected: true, tlsDone: true}, IDAuth, "login"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs := connectFailure(cfg, &CheckError{Kind: Timeout}, tt.st, false)
			last := rs[len(rs)-1]
			if last.ID != tt.wantID || last.Status != check.Error || !strings.Contains(last.Message, tt.wantInMsg) {
				t.Fatalf("last result %+v", last)
			}
			if tt.wantID == IDConnect && !strings.Contains(last.Hint, "203.0.113.7") {
				t.Errorf("hint %q does not name the VM address", last.Hint)
			}
		})
	}
}
