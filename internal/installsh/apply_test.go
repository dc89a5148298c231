package installsh

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/carto-setup/carto-setup/internal/check"
	"github.com/google/go-cmp/cmp"
)

type fakeTools struct {
	docker, compose string
	name            string // the Compose command, when the tools know it
	err             error
}

func (f fakeTools) Docker(context.Context) (string, error)  { return f.docker, f.err }
func (f fakeTools) Compose(context.Context) (string, error) { return f.compose, f.err }
func (f fakeTools) ComposeCommand(context.Context) (string, error) {
	if f.name == "" {
		return "", errors.New("unknown")
	}
	return f.name, nil
}

// hashDir returns the SHA-256 of every file under dir.
func hashDir(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		out[strings.TrimPrefix(path, dir)] = hex.EncodeToString(sum[:])
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

var goodTools = fakeTools{docker: "Docker version 24.0.7, build afdd53b", compose: "Docker Compose version v2.27.0"}

const goodCustomerEnv = "# package\nSELFHOSTED_DOMAIN=carto.example.com\nCARTO_SELFHOSTED_CUSTOMER_PACKAGE_VERSION=2026.4.2\n" +
	"LOCAL_POSTGRES_SCALE=0\nPOSTGRES_ADMIN_PASSWORD='pw'\n"

// release writes a release directory; files maps names to content and a
// nil content leaves the file out.
func release(t *testing.T, overrides map[string]*string) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"VERSION":      "2026.4.24\n",
		"MIN_VERSION":  "2026.4.1\n",
		"env.tpl":      "ACC_URL=https://${SELFHOSTED_DOMAIN}/acc/\n",
		"customer.env": goodCustomerEnv,
		"key.json":     `{"type":"service_account"}`,
	}
	for name, content := range files {
		if o, ok := overrides[name]; ok {
			if o == nil {
				continue
			}
			content = *o
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func ptr(s string) *string { return &s }

func find(results []check.Result, id string) (check.Result, bool) {
	for _, r := range results {
		if r.ID == id {
			return r, true
		}
	}
	return check.Result{}, false
}

func mode(t *testing.T, path string) os.FileMode {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Mode().Perm()
}

func TestApplyWritesWhatInstallShWrites(t *testing.T) {
	dir := release(t, map[string]*string{"customer.env": ptr(strings.Replace(goodCustomerEnv, "POSTGRES_ADMIN_PASSWORD", "POSTGRES_PASSWORD", 1))})
	results, err := Apply(context.Background(), dir, Options{Tools: goodTools})
	if err != nil {
		t.Fatalf("Apply: %v (%+v)", err, results)
	}
	customerEnv, _ := os.ReadFile(filepath.Join(dir, "customer.env"))
	if string(customerEnv) != goodCustomerEnv {
		t.Errorf("customer.env not renamed: %q", customerEnv)
	}
	if m := mode(t, filepath.Join(dir, "customer.env")); m != 0o640 {
		t.Errorf("customer.env mode %o, want its old 0640", m)
	}
	dotEnv, _ := os.ReadFile(filepath.Join(dir, ".env"))
	want := DotEnv([]byte(goodCustomerEnv), []byte("2026.4.24\n"), []byte("ACC_URL=https://${SELFHOSTED_DOMAIN}/acc/\n"))
	if !bytes.Equal(dotEnv, want) {
		t.Errorf(".env = %q, want %q", dotEnv, want)
	}
	key, _ := os.ReadFile(filepath.Join(dir, "certs", "key.json"))
	if string(key) != `{"type":"service_account"}` {
		t.Errorf("certs/key.json = %q", key)
	}
	for path, want := range map[string]os.FileMode{".env": 0o600, "certs/key.json": 0o600, "certs": 0o700} {
		if m := mode(t, filepath.Join(dir, path)); m != want {
			t.Errorf("%s mode %o, want %o", path, m, want)
		}
	}
	for _, id := range []string{"install.docker", "install.compose", "install.file.key.json", "install.package_version",
		"install.min_version", "install.local_postgres_scale", "install.postgres_admin_password"} {
		if r, ok := find(results, id); !ok || r.Status != check.Pass {
			t.Errorf("%s = %+v, want a pass", id, r)
		}
	}
}

func TestApplyLeavesUnchangedCustomerEnvAlone(t *testing.T) {
	dir := release(t, nil)
	path := filepath.Join(dir, "customer.env")
	before, _ := os.Stat(path)
	if _, err := Apply(context.Background(), dir, Options{Tools: goodTools}); err != nil {
		t.Fatal(err)
	}
	after, _ := os.Stat(path)
	if !os.SameFile(before, after) {
		t.Error("customer.env was rewritten although the rename changed nothing")
	}
}

func TestApplyFailures(t *testing.T) {
	tests := []struct {
		name       string
		files      map[string]*string
		tools      fakeTools
		failID     string
		msg        string
		wantDotEnv bool
	}{
		{"old docker", nil, fakeTools{docker: "Docker version 19.03.1, build x", compose: "docker-compose version 1.29.2, build y"},
			"install.docker", "older than 20.10", false},
		{"old compose", nil, fakeTools{docker: "24.0.7", compose: "docker-compose version 1.25.0, build y"},
			"install.compose", "older than 1.29", false},
		{"no docker", nil, fakeTools{err: errors.New("exec: docker: not found")}, "install.docker", "Could not get the Docker version", false},
		{"missing key.json", map[string]*string{"key.json": nil}, goodTools, "install.file.key.json", "key.json is missing", false},
		{"missing MIN_VERSION", map[string]*string{"MIN_VERSION": nil}, goodTools, "install.file.MIN_VERSION", "MIN_VERSION is missing", false},
		{"no package version", map[string]*string{"customer.env": ptr("LOCAL_POSTGRES_SCALE=0\nPOSTGRES_PASSWORD=x\n")}, goodTools,
			"install.package_version", "CARTO_SELFHOSTED_CUSTOMER_PACKAGE_VERSION is missing", false},
		{"package too old", map[string]*string{"MIN_VERSION": ptr("2026.5.1\n")}, goodTools,
			"install.min_version", "older than 2026.5.1", false},
		{"quoted old package", map[string]*string{"customer.env": ptr(strings.Replace(goodCustomerEnv, "=2026.4.2", `="2022.05.12-5"`, 1)),
			"MIN_VERSION": ptr("2022.6.28\n")}, goodTools, "install.min_version", "older than 2022.6.28", false},
		{"scale unset", map[string]*string{"customer.env": ptr(strings.Replace(goodCustomerEnv, "LOCAL_POSTGRES_SCALE=0\n", "", 1))}, goodTools,
			"install.local_postgres_scale", "LOCAL_POSTGRES_SCALE is not set", false},
		{"empty admin password", map[string]*string{"customer.env": ptr(strings.Replace(goodCustomerEnv, "'pw'", "", 1))}, goodTools,
			"install.postgres_admin_password", "There is no Postgres Admin password defined", false},
		{"bad .env", map[string]*string{"env.tpl": ptr("X=${ bad\n")}, goodTools, "install.env", "could not read the generated .env", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := release(t, tt.files)
			before := hashDir(t, dir)
			results, err := Apply(context.Background(), dir, Options{Tools: tt.tools})
			if diff := cmp.Diff(before, hashDir(t, dir)); diff != "" {
				t.Errorf("a failed check left files changed (-before +after):\n%s", diff)
			}
			if !errors.Is(err, ErrChecksFailed) {
				t.Fatalf("Apply error = %v, want ErrChecksFailed", err)
			}
			r, ok := find(results, tt.failID)
			if !ok || r.Status != check.Fail || !strings.Contains(r.Message, tt.msg) {
				t.Fatalf("%s = %+v, want a failure saying %q", tt.failID, r, tt.msg)
			}
			_, statErr := os.Stat(filepath.Join(dir, ".env"))
			if wrote := statErr == nil; wrote != tt.wantDotEnv {
				t.Errorf(".env written = %v, want %v", wrote, tt.wantDotEnv)
			}
		})
	}
}

func TestApplyWarnsOnEmbeddedDatabase(t *testing.T) {
	dir := release(t, map[string]*string{"customer.env": ptr(strings.Replace(goodCustomerEnv, "SCALE=0", "SCALE=1", 1))})
	results, err := Apply(context.Background(), dir, Options{Tools: goodTools})
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := find(results, "install.local_postgres_scale"); r.Status != check.Warn || !strings.Contains(r.Message, "not for PRODUCTION") {
		t.Errorf("got %+v, want the embedded-database warning", r)
	}
}

func TestApplyIgnoreChecks(t *testing.T) {
	dir := release(t, map[string]*string{"customer.env": ptr("A=1"), "MIN_VERSION": nil})
	results, err := Apply(context.Background(), dir, Options{IgnoreChecks: true})
	if err != nil || len(results) != 0 {
		t.Fatalf("Apply = %+v, %v; want step B alone", results, err)
	}
	got, _ := os.ReadFile(filepath.Join(dir, ".env"))
	if want := DotEnv([]byte("A=1"), []byte("2026.4.24\n"), []byte("ACC_URL=https://${SELFHOSTED_DOMAIN}/acc/\n")); !bytes.Equal(got, want) {
		t.Errorf(".env = %q, want %q", got, want)
	}

	dir = release(t, map[string]*string{"key.json": nil})
	if _, err := Apply(context.Background(), dir, Options{IgnoreChecks: true}); err == nil || !strings.Contains(err.Error(), "read key.json") {
		t.Errorf("Apply without key.json = %v, want a read error", err)
	}
}

func TestRunEnvCommand(t *testing.T) {
	tests := []struct {
		name       string
		files      map[string]*string
		args       func(dir string) []string
		tools      fakeTools
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{"success", nil, func(d string) []string { return []string{"--dir", d} }, goodTools, 0,
			"[INFO]: File .env successfully created\n[INFO]: Script finished, run docker compose up -d\n", ""},
		{"standalone compose", nil, func(d string) []string { return []string{"--dir", d} },
			fakeTools{docker: "20.10.24", compose: "docker-compose version 1.29.2, build unknown"}, 0,
			"[INFO]: Script finished, run docker-compose up -d\n", ""},
		{"detected compose", nil, func(d string) []string { return []string{"--dir", d} },
			fakeTools{docker: "20.10.24", compose: "Docker Compose version v2.27.0", name: "docker-compose"}, 0,
			"[INFO]: Script finished, run docker-compose up -d\n", ""},
		{"check failure", map[string]*string{"MIN_VERSION": ptr("2027.1.1")}, func(d string) []string { return []string{"--dir", d} }, goodTools, 1,
			"[ERROR]: The customer package version 2026.4.2 is older than 2027.1.1", "checks failed"},
		{"ignore checks", map[string]*string{"MIN_VERSION": ptr("2027.1.1")}, func(d string) []string { return []string{"--dir", d, "--ignore-checks"} },
			fakeTools{err: errors.New("must not be called")}, 0, "[INFO]: File .env successfully created", ""},
		{"missing file", map[string]*string{"env.tpl": nil}, func(d string) []string { return []string{"--dir", d, "--ignore-checks"} }, goodTools, 1,
			"", "read env.tpl"},
		{"unknown flag", nil, func(string) []string { return []string{"--bogus"} }, goodTools, 2, "", "usage: carto-setup env"},
		{"extra argument", nil, func(d string) []string { return []string{"--dir", d, "extra"} }, goodTools, 2, "", `unexpected argument "extra"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := release(t, tt.files)
			var stdout, stderr bytes.Buffer
			code := RunEnvCommand(context.Background(), tt.args(dir), &stdout, &stderr, tt.tools)
			if code != tt.wantCode {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tt.wantCode, &stdout, &stderr)
			}
			if !strings.Contains(stdout.String(), tt.wantStdout) {
				t.Errorf("stdout %q lacks %q", &stdout, tt.wantStdout)
			}
			if !strings.Contains(stderr.String(), tt.wantStderr) {
				t.Errorf("stderr %q lacks %q", &stderr, tt.wantStderr)
			}
		})
	}
}
