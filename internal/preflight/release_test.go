package preflight

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/carto-setup/carto-setup/internal/check"
)

func TestCheckReleaseFiles(t *testing.T) {
	tests := []struct {
		name         string
		create       []string
		dirs         []string // created as directories, which do not count
		wantStatus   check.Status
		wantMeasured string // after "missing in DIR: " or "all present in DIR"
	}{
		{"complete", ReleaseFiles(), nil, check.Pass, ""},
		{"empty dir", nil, nil, check.Fail, "docker-compose.yml, env.tpl, VERSION, MIN_VERSION, install.sh"},
		{"no MIN_VERSION", []string{"docker-compose.yml", "env.tpl", "VERSION", "install.sh"}, nil, check.Fail, "MIN_VERSION"},
		{"VERSION is a directory", []string{"docker-compose.yml", "env.tpl", "MIN_VERSION", "install.sh"}, []string{"VERSION"}, check.Fail, "VERSION"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for _, f := range tt.create {
				if err := os.WriteFile(filepath.Join(dir, f), []byte("x\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			for _, d := range tt.dirs {
				if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			r := checkReleaseFiles(Deps{Stat: os.Stat}, Config{ReleaseDir: dir})
			want := "all present in " + dir
			if tt.wantStatus != check.Pass {
				want = "missing in " + dir + ": " + tt.wantMeasured
			}
			if r.Status != tt.wantStatus || r.Measured != want {
				t.Errorf("checkReleaseFiles() = %s %q, want %s %q", r.Status, r.Measured, tt.wantStatus, want)
			}
			if r.Fixed != (tt.wantStatus == check.Fail) {
				t.Errorf("Fixed = %v for status %s", r.Fixed, r.Status)
			}
			assertComplete(t, r)
		})
	}
}
