package app_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/carto-setup/carto-setup/internal/compose"
	"github.com/carto-setup/carto-setup/internal/demo/release"
	"github.com/carto-setup/carto-setup/internal/deploy"
	"github.com/carto-setup/carto-setup/internal/e2e"
	"github.com/carto-setup/carto-setup/internal/testenv"
	"github.com/carto-setup/carto-setup/internal/wizard"
)

// fileState is what a file looks like on disk: content hash, inode and
// modification time, so that a rewrite with the same bytes shows too.
type fileState struct {
	sha   string
	inode uint64
	mtime time.Time
}

// snapshot records every file under dir.
func snapshot(t *testing.T, dir string) map[string]fileState {
	t.Helper()
	out := map[string]fileState{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		fi, err := os.Stat(path)
		if err != nil {
			return err
		}
		s := sha256.Sum256(b)
		rel, _ := filepath.Rel(dir, path)
		if rel == "install.lock" || rel == "install.lock.json" {
			// The one-install-at-a-time lock, taken before the checks
			// and released after; its files stay, holding no one.
			return nil
		}
		out[rel] = fileState{sha: hex.EncodeToString(s[:]), inode: inode(fi), mtime: fi.ModTime()}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// sameFiles fails the test for every file added, removed or changed
// (content, inode or modification time) between two snapshots.
func sameFiles(t *testing.T, what string, before, after map[string]fileState) {
	t.Helper()
	for name, b := range before {
		a, ok := after[name]
		switch {
		case !ok:
			t.Errorf("%s: %s was removed", what, name)
		case a.sha != b.sha:
			t.Errorf("%s: %s changed", what, name)
		case a.inode != b.inode || !a.mtime.Equal(b.mtime):
			t.Errorf("%s: %s was rewritten (same bytes, new inode or time)", what, name)
		}
	}
	for name := range after {
		if _, ok := before[name]; !ok {
			t.Errorf("%s: %s was created", what, name)
		}
	}
}

// TestCheckRefusesWhatApplyRefuses runs check and apply, through app.Run,
// on answers that differ from a good set by one hostile value each: check
// fails exactly where apply refuses, with the same check ID and the
// answers field named, and apply writes nothing (every file of the
// release directory and the wizard's state byte-identical and not
// rewritten). A value both accept is the control.
func TestCheckRefusesWhatApplyRefuses(t *testing.T) {
	r := newHeadlessRelease(t)
	stateDir := filepath.Join(r.pkg, "state")
	answers := func(ws, admin, extra string) string {
		r.write(t, "ws", ws)
		r.write(t, "admin", admin)
		return r.answers(t, `version: 1
package: {customer_env: {PKG}/customer.env, key_json: {PKG}/key.json}
domain: carto.example.com
database: {mode: embedded, workspace_password_file: {PKG}/ws, admin_password_file: {PKG}/admin}
tls: {mode: self-signed}
buckets: {mode: carto-managed}
`+extra)
	}
	// This machine's own failures (CPUs, egress, DNS, Docker) get a
	// reason, as an admin would give them.
	code, stdout, stderr := r.run(t, "check", "--json", "--answers", answers("good-Workspace-1", "good-Admin-1", ""))
	if code == 2 {
		t.Fatalf("the good answers are invalid: %s", stderr)
	}
	var overrides strings.Builder
	for _, c := range decodeChecks(t, stdout).Checks {
		if c.Status == "fail" || c.Status == "error" {
			fmt.Fprintf(&overrides, "  - {check: %s, reason: test machine}\n", c.ID)
		}
	}
	withOverrides := func(extra string) string {
		if overrides.Len() == 0 {
			return extra
		}
		return extra + "overrides:\n" + overrides.String()
	}

	// An earlier install's files, so that "nothing written" has
	// something to keep.
	st := wizard.State{}
	st.Package.CustomerEnv, st.Package.KeyJSON = mustRead(t, r.pkg, "customer.env"), mustRead(t, r.pkg, "key.json")
	st.Domain.Domain, st.Database = "carto.example.com", wizard.DatabaseInput{Mode: wizard.ModeEmbedded, WorkspacePassword: "earlier-Ws-1", AdminPassword: "earlier-Admin-1"}
	st.Buckets.Mode = wizard.BucketsCartoManaged
	plan, err := deploy.NewPlanWith(st, r.dir, deploy.PlanOptions{StateDir: stateDir})
	if err != nil {
		t.Fatal(err)
	}
	if err := deploy.ApplyWith(plan, deploy.ApplyOptions{}); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name, ws, admin, extra string
		code                   int    // exit status of both commands
		id                     string // the failed check, or the answers problem
		field                  string // the answers field named
	}{
		{"workspace password with ${...}", "pw${HOME}x", "good-Admin-1", "", 1,
			"install.customer_env.workspace_postgres_password", "database.workspace_password_file"},
		{"admin password with ' and $", "good-Workspace-1", "it's$cash", "", 1,
			"install.customer_env.postgres_admin_password", "database.admin_password_file"},
		{"admin password with \\ and $", "good-Workspace-1", `aa\\bb$cc`, "", 1,
			"install.customer_env.postgres_admin_password", "database.admin_password_file"},
		{"admin password ending in a backslash", "good-Workspace-1", `trailing\`, "", 1,
			"install.customer_env.postgres_admin_password", "database.admin_password_file"},
		{"further setting with ${...}", "good-Workspace-1", "good-Admin-1", "advanced:\n  extra:\n    - {key: LOG_LEVEL, value: '${EVIL}'}\n", 2,
			"", "advanced.extra[0].value"},
		{"further setting taking the domain", "good-Workspace-1", "good-Admin-1", "advanced:\n  extra:\n    - {key: SELFHOSTED_DOMAIN, value: evil.example.com}\n", 2,
			"", "advanced.extra[0].key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := answers(tc.ws, tc.admin, withOverrides(tc.extra))
			code, stdout, stderr := r.run(t, "check", "--json", "--answers", file)
			if code != tc.code {
				t.Fatalf("check: exit %d, want %d\nstdout: %s\nstderr: %s", code, tc.code, stdout, stderr)
			}
			if tc.id != "" && decodeChecks(t, stdout).status(tc.id) != "fail" {
				t.Errorf("check does not fail %s:\n%s", tc.id, stdout)
			}
			if !strings.Contains(stderr, tc.field) {
				t.Errorf("check does not name %s: %s", tc.field, stderr)
			}

			files, state := snapshot(t, r.dir), snapshot(t, stateDir)
			code, stdout, stderr = r.run(t, "apply", "--json", "--answers", file)
			if code != tc.code {
				t.Fatalf("apply: exit %d, want %d\nstdout: %s\nstderr: %s", code, tc.code, stdout, stderr)
			}
			if tc.id != "" && (!strings.Contains(stderr, "nothing was installed") || decodeChecks(t, stdout).status(tc.id) != "fail") {
				t.Errorf("apply does not refuse %s:\nstdout: %s\nstderr: %s", tc.id, stdout, stderr)
			}
			if !strings.Contains(stderr, tc.field) {
				t.Errorf("apply does not name %s: %s", tc.field, stderr)
			}
			if strings.Contains(stdout+stderr, tc.ws) || strings.Contains(stdout+stderr, tc.admin) {
				t.Error("a password was printed")
			}
			sameFiles(t, "release directory", files, snapshot(t, r.dir))
			sameFiles(t, "state directory", state, snapshot(t, stateDir))
		})
	}

	t.Run("control: a password with $ alone", func(t *testing.T) {
		file := answers("pa$$word-Ws", "good-Admin-1", withOverrides(""))
		if code, stdout, stderr := r.run(t, "check", "--answers", file); code != 0 {
			t.Fatalf("check: exit %d\n%s\n%s", code, stdout, stderr)
		}
		// apply gets past the values to the install, which fails here:
		// the stand-in's images are not built and cannot be pulled. The
		// failed first install is removed again.
		e2e.NeedDocker(t)
		project := fmt.Sprintf("valuesctl%06d", rand.IntN(1e6))
		code, _, stderr := r.run(t, "apply", "--answers", file, "--project", project, "--remove-failed", "--expect-timeout", "30s")
		if code != 1 || !strings.Contains(stderr, "install failed") || strings.Contains(stderr, "nothing was installed") {
			t.Fatalf("apply did not get past the values to the install: exit %d\n%s", code, stderr)
		}
		if !strings.Contains(stderr, "removed: the containers and the network of "+project) {
			t.Errorf("the failed first install was not removed:\n%s", stderr)
		}
	})
}

func mustRead(t *testing.T, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestEnvWritesNothingWhenACheckFails runs `carto-setup env` as an admin
// would: once successfully (its last line names the Compose this host
// has), then with a customer.env whose admin password is empty and with a
// package below MIN_VERSION; each failure leaves every file
// byte-identical and unrewritten, the .env of the first run included.
func TestEnvWritesNothingWhenACheckFails(t *testing.T) {
	dir := t.TempDir()
	if err := release.Write(dir, ""); err != nil {
		t.Fatal(err)
	}
	env := release.SampleCustomerEnv("carto.example.com")
	key, err := release.SampleKeyJSON()
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, data []byte) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("customer.env", env)
	write("key.json", key)
	tool, err := compose.Detect(context.Background(), exec.LookPath, compose.Exec)
	if err != nil {
		testenv.Missing(t, "Docker Compose", "apt-get install docker-compose")
	}
	want := "docker-compose"
	if tool.Flavor == compose.Plugin {
		want = "docker compose"
	}
	code, stdout, stderr := runApp(t, "env", "--dir", dir)
	if code != 0 {
		t.Fatalf("env: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, "[INFO]: Script finished, run "+want+" up -d") {
		t.Errorf("env does not name the detected %s:\n%s", want, stdout)
	}

	for _, tc := range []struct {
		name  string
		edit  func()
		error string
	}{
		{"empty admin password", func() {
			write("customer.env", regexp.MustCompile(`(?m)^POSTGRES_ADMIN_PASSWORD=.*$`).ReplaceAll(env, []byte("POSTGRES_ADMIN_PASSWORD=")))
		}, "There is no Postgres Admin password defined"},
		{"package below MIN_VERSION", func() {
			write("customer.env", env)
			write("MIN_VERSION", []byte("2099.1.1\n"))
		}, "is older than 2099.1.1, the oldest this release accepts"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.edit()
			before := snapshot(t, dir)
			time.Sleep(10 * time.Millisecond) // a rewrite would get a later time
			code, stdout, stderr := runApp(t, "env", "--dir", dir)
			if code != 1 || !strings.Contains(stdout+stderr, tc.error) {
				t.Fatalf("env: exit %d, want 1 naming %q\n%s\n%s", code, tc.error, stdout, stderr)
			}
			sameFiles(t, "release directory", before, snapshot(t, dir))
		})
	}
}
