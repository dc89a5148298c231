package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/carto-setup/carto-setup/internal/app"
	"github.com/carto-setup/carto-setup/internal/demo/release"
	"github.com/carto-setup/carto-setup/internal/domaincheck"
	"github.com/carto-setup/carto-setup/internal/wizard"
)

// documented are the commands the README documents.
var documented = []string{"token", "sessions", "env", "check", "apply", "answers", "export", "renew", "images", "version", "upgrade", "history", "restore", "smoke", "down", "logs"}

// TestEveryDocumentedCommand runs each command of the README through
// app.Run, as a user types it: with --help (exit 0, its usage printed, never
// "unknown command"), and with a minimal real invocation.
func TestEveryDocumentedCommand(t *testing.T) {
	t.Parallel()
	r := newHeadlessRelease(t)
	state := filepath.Join(r.pkg, "state")
	// A state as the wizard leaves it, for answers and renew.
	store := wizard.NewFileStore(filepath.Join(state, "state.json"), time.Now)
	if err := os.MkdirAll(state, 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Update(func(st *wizard.State) error {
		st.Domain.Domain = "carto.example.com"
		st.TLS.Mode = wizard.TLSSelfSigned
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	writePackage(t, r.dir)
	seedLogs(t, filepath.Join(state, "logs"))
	pkgAnswers := r.answers(t, "version: 1\npackage: {customer_env: {PKG}/customer.env, key_json: {PKG}/key.json}\n")
	notABundle := r.write(t, "not-a-bundle", "these bytes are no image bundle\n")
	exportFile, _ := exportAnswers(t)
	exportDir := filepath.Join(t.TempDir(), "helm")

	for _, name := range documented {
		t.Run(name+" --help", func(t *testing.T) {
			code, stdout, stderr := r.run(t, name, "--help")
			if code != 0 {
				t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
			}
			out := stdout + stderr
			if strings.Contains(out, "unknown command") || !strings.Contains(out, "carto-setup "+name) && !strings.Contains(out, "usage: carto-setup "+name) {
				t.Errorf("no usage of %s:\n%s", name, out)
			}
		})
	}

	cases := []struct {
		name string
		args []string
		code int
		want string // in stdout or stderr
	}{
		{"token", []string{"token"}, 0, "New token issued"},
		{"sessions", []string{"sessions"}, 0, "No browser is signed in."},
		{"env", []string{"env", "--ignore-checks"}, 0, ".env"},
		{"check", []string{"check", "package", "--answers", pkgAnswers, "--json"}, 0, `"id": "package.customer_env"`},
		{"apply", []string{"apply", "--answers", pkgAnswers}, 2, "domain: missing"},
		{"answers", []string{"answers"}, 0, "domain: carto.example.com"},
		{"export", []string{"export", "helm", "--answers", exportFile, "-o", exportDir}, 0, "Wrote customizations.yaml"},
		{"renew", []string{"renew"}, 0, "nothing to renew"},
		{"images", []string{"images", "load", notABundle}, 1, "is damaged"},
		{"version", []string{"version"}, 0, "carto-setup dev"},
		{"upgrade", []string{"upgrade", "--answers", pkgAnswers}, 2, "domain: missing"},
		{"history", []string{"history"}, 0, "No install, upgrade or restore is recorded yet."},
		{"restore", []string{"restore", "1"}, 1, "no such entry"},
		// Nothing is installed from this state: the smoke test cannot
		// pass, and says why.
		{"smoke", []string{"smoke", "--json"}, 1, "nothing is installed"},
		// The env case wrote .env: down stops that (empty) project; a
		// project of its own, so no other stack on this host is touched.
		{"down", []string{"down", "--project", "cmdtest" + strconv.Itoa(os.Getpid())}, 0, "Stopping the stack cmdtest"},
		{"down --purge", []string{"down", "--purge"}, 2, "needs --demo"},
		{"logs", []string{"logs", "api", "--json"}, 0, `"text":"INFO api listening on :8080"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			args := append([]string{"carto-setup"}, tc.args...)
			if tc.name == "env" {
				args = append(args, "--dir", r.dir)
			} else if tc.name != "version" && tc.name != "export" {
				args = append(args, "--dir", r.dir, "--state-dir", state, "--http-addr", "127.0.0.1:0")
			}
			err := app.Run(context.Background(), args, func(string) string { return "" }, &stdout, &stderr)
			if code := exitCode(t, err); code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tc.code, &stdout, &stderr)
			}
			if out := stdout.String() + stderr.String(); !strings.Contains(out, tc.want) {
				t.Errorf("output lacks %q:\n%s", tc.want, out)
			}
		})
	}
	t.Run("help lists every command", func(t *testing.T) {
		var stdout bytes.Buffer
		if err := app.Run(context.Background(), []string{"carto-setup", "help"}, func(string) string { return "" }, &stdout, &stdout); err != nil {
			t.Fatal(err)
		}
		for _, name := range documented {
			if !strings.Contains(stdout.String(), "carto-setup "+name) {
				t.Errorf("help does not list %s:\n%s", name, &stdout)
			}
		}
	})
}

// writePackage puts the sample customer package into a release, as the
// admin does before `carto-setup env`.
func writePackage(t *testing.T, dir string) {
	t.Helper()
	key, err := release.SampleKeyJSON()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "customer.env"), release.SampleCustomerEnv("carto.example.com"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "key.json"), key, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestDomainCheckWithoutPort80OrDocker is the headless domain check of an
// ordinary user who can bind neither port 80 (an address this host does
// not have) nor reach Docker for the relay: the checks report that, with
// results and exit 1, and never panic.
func TestDomainCheckWithoutPort80OrDocker(t *testing.T) {
	t.Setenv("DOCKER_HOST", "unix:///nonexistent.sock")
	r := newHeadlessRelease(t)
	file := r.answers(t, "version: 1\ndomain: carto.example.com\n")
	var stdout, stderr bytes.Buffer
	err := app.Run(context.Background(), []string{"carto-setup", "check", "domain", "--answers", file, "--json",
		"--dir", r.dir, "--state-dir", filepath.Join(r.pkg, "state"), "--http-addr", "192.0.2.1:80",
		"--resolver", "127.0.0.1:" + strconv.Itoa(r.closed)}, func(string) string { return "" }, &stdout, &stderr)
	if code := exitCode(t, err); code != 1 {
		t.Fatalf("exit %d, want 1\nstdout: %s\nstderr: %s", code, &stdout, &stderr)
	}
	var out struct {
		Checks []struct{ ID, Status, Message string } `json:"checks"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatalf("no JSON results: %v\n%s", err, &stdout)
	}
	for _, c := range out.Checks {
		if c.ID == domaincheck.IDReachable {
			if c.Status != "error" || !strings.Contains(c.Message, "Port 80 could not be opened") {
				t.Errorf("%s: %s %q, want error saying port 80 could not be opened", c.ID, c.Status, c.Message)
			}
			return
		}
	}
	t.Errorf("no %s result: %s", domaincheck.IDReachable, &stdout)
}
