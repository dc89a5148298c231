package dbcheck

import "testing"

func TestStripServer(t *testing.T) {
	tests := []struct {
		in     string
		want   string
		wantOK bool
	}{
		{"workspace_admin", "workspace_admin", false},
		{"carto@myserver", "carto", true},
		{"a@b@myserver", "a@b", true},
		{"@myserver", "@myserver", false},
		{"carto@", "carto@", false},
		{"", "", false},
	}
	for _, tt := range tests {
		got, ok := StripServer(tt.in)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("StripServer(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.wantOK)
		}
	}
}

func TestAzureLogins(t *testing.T) {
	tests := []struct {
		name          string
		admin, wsUser string
		want          AzureUsers
		wantOK        bool
	}{
		{name: "not azure", admin: "postgres", wsUser: "workspace_admin"},
		{name: "both suffixed", admin: "carto@srv", wsUser: "workspace_admin@srv", want: AzureUsers{"carto", "workspace_admin"}, wantOK: true},
		{name: "admin only", admin: "carto@srv", wsUser: "workspace_admin", want: AzureUsers{"carto", "workspace_admin"}, wantOK: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := AzureLogins(tt.admin, tt.wsUser)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("AzureLogins(%q, %q) = %+v, %v; want %+v, %v", tt.admin, tt.wsUser, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	good := Config{Host: "db.example.com", AdminUser: "postgres", AdminPassword: "pw"}
	tests := []struct {
		name      string
		mutate    func(c *Config)
		wantField string
	}{
		{name: "ok", mutate: func(c *Config) {}},
		{name: "no host", mutate: func(c *Config) { c.Host = " " }, wantField: FieldHost},
		{name: "url as host", mutate: func(c *Config) { c.Host = "postgres://db" }, wantField: FieldHost},
		{name: "bad port", mutate: func(c *Config) { c.Port = 70000 }, wantField: FieldPort},
		{name: "no admin", mutate: func(c *Config) { c.AdminUser = "" }, wantField: FieldAdminUser},
		{name: "no password", mutate: func(c *Config) { c.AdminPassword = "" }, wantField: FieldAdminPassword},
		{name: "bad mode", mutate: func(c *Config) { c.SSL, c.SSLMode = true, "prefer" }, wantField: FieldSSLMode},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := good
			tt.mutate(&c)
			ps := c.withDefaults().validate()
			if tt.wantField == "" {
				if len(ps) != 0 {
					t.Fatalf("problems = %+v, want none", ps)
				}
				return
			}
			if len(ps) != 1 || ps[0].field != tt.wantField {
				t.Fatalf("problems = %+v, want one on %s", ps, tt.wantField)
			}
		})
	}
}

func TestWithDefaultsSSLMode(t *testing.T) {
	tests := []struct {
		ssl  bool
		mode string
		want string
	}{
		{false, SSLVerifyFull, SSLDisable},
		{true, "", SSLRequire},
		{true, SSLDisable, SSLRequire},
		{true, SSLVerifyCA, SSLVerifyCA},
	}
	for _, tt := range tests {
		got := Config{SSL: tt.ssl, SSLMode: tt.mode}.withDefaults().SSLMode
		if got != tt.want {
			t.Errorf("SSL=%v mode=%q: got %q, want %q", tt.ssl, tt.mode, got, tt.want)
		}
	}
}
