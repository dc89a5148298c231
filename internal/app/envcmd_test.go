package app

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/carto-setup/carto-setup/internal/demo/release"
	"github.com/carto-setup/carto-setup/internal/installsh"
)

func writePackage(t *testing.T, dir string, env []byte) {
	t.Helper()
	key, err := release.SampleKeyJSON()
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "customer.env"), env, 0o600)
	os.WriteFile(filepath.Join(dir, "key.json"), key, 0o600)
}

// TestEnvCommand runs `carto-setup env` as an admin would on a checkout:
// with --ignore-checks it only generates .env, byte for byte as step B;
// without it, a condition install.sh only warns about is a failure.
func TestEnvCommand(t *testing.T) {
	dir := t.TempDir()
	if err := release.Write(dir, ""); err != nil {
		t.Fatal(err)
	}
	env := release.SampleCustomerEnv("carto.example.com")
	writePackage(t, dir, env)
	run := func(args ...string) (string, error) {
		var out, errb bytes.Buffer
		err := Run(context.Background(), append([]string{"carto-setup", "env", "--dir", dir}, args...), func(string) string { return "" }, &out, &errb)
		return out.String() + errb.String(), err
	}
	if out, err := run("--ignore-checks"); err != nil {
		t.Fatalf("env --ignore-checks: %v\n%s", err, out)
	}
	got, _ := os.ReadFile(filepath.Join(dir, ".env"))
	version, _ := os.ReadFile(filepath.Join(dir, "VERSION"))
	tpl, _ := os.ReadFile(filepath.Join(dir, "env.tpl"))
	if want := installsh.DotEnv(env, version, tpl); !bytes.Equal(got, want) {
		t.Fatal(".env differs from step B")
	}
	if fi, _ := os.Stat(filepath.Join(dir, ".env")); fi.Mode().Perm() != 0o600 {
		t.Fatalf(".env mode %v", fi.Mode().Perm())
	}

	// An empty admin password: install.sh prints [ERROR] and exits 0; we fail.
	var lines []string
	for _, l := range strings.Split(string(env), "\n") {
		if strings.HasPrefix(l, "POSTGRES_ADMIN_PASSWORD=") {
			l = "POSTGRES_ADMIN_PASSWORD="
		}
		lines = append(lines, l)
	}
	writePackage(t, dir, []byte(strings.Join(lines, "\n")))
	out, err := run()
	var coded interface{ ExitCode() int }
	if !errors.As(err, &coded) || coded.ExitCode() != 1 {
		t.Fatalf("empty admin password: err %v, want exit status 1\n%s", err, out)
	}
	if !strings.Contains(out, "[ERROR]: There is no Postgres Admin password defined") {
		t.Fatalf("no [ERROR] line about the admin password:\n%s", out)
	}
}
