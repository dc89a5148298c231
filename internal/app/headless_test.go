package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/carto-setup/carto-setup/internal/app"
	"github.com/carto-setup/carto-setup/internal/certcheck"
	"github.com/carto-setup/carto-setup/internal/demo/release"
	"github.com/carto-setup/carto-setup/internal/pgtest"
	"github.com/carto-setup/carto-setup/internal/testenv"
)

// headlessRelease is a stand-in release with a sample customer package
// beside it, for the headless commands.
type headlessRelease struct {
	dir    string // the release
	pkg    string // customer.env and key.json
	env    map[string]string
	closed int // a loopback port nothing listens on
}

func newHeadlessRelease(t *testing.T) *headlessRelease {
	t.Helper()
	r := &headlessRelease{dir: t.TempDir(), pkg: t.TempDir(), env: map[string]string{}, closed: testenv.ClosedPort(t)}
	if err := release.Write(r.dir, ""); err != nil {
		t.Fatal(err)
	}
	key, err := release.SampleKeyJSON()
	if err != nil {
		t.Fatal(err)
	}
	r.write(t, "customer.env", string(release.SampleCustomerEnv("carto.example.com")))
	r.write(t, "key.json", string(key))
	return r
}

// write puts a file into the package directory and returns its path.
func (r *headlessRelease) write(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(r.pkg, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// answers writes an answers file; {PKG} in text is the package directory.
func (r *headlessRelease) answers(t *testing.T, text string) string {
	t.Helper()
	return r.write(t, fmt.Sprintf("answers-%d.yaml", time.Now().UnixNano()), strings.ReplaceAll(text, "{PKG}", r.pkg))
}

// run runs carto-setup with the release and a closed port 80 and resolver,
// and returns the exit status and the output.
func (r *headlessRelease) run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	argv := append([]string{"carto-setup"}, args...)
	argv = append(argv, "--dir", r.dir, "--state-dir", filepath.Join(r.pkg, "state"), "--http-addr", "127.0.0.1:0",
		"--resolver", fmt.Sprintf("127.0.0.1:%d", r.closed))
	err := app.Run(context.Background(), argv, func(k string) string { return r.env[k] }, &stdout, &stderr)
	return exitCode(t, err), stdout.String(), stderr.String()
}

func exitCode(t *testing.T, err error) int {
	t.Helper()
	var coded interface{ ExitCode() int }
	switch {
	case err == nil:
		return 0
	case errors.As(err, &coded):
		return coded.ExitCode()
	}
	t.Fatalf("carto-setup returned %v, want an exit status", err)
	return -1
}

// checkOutput is the documented --json shape; decoding refuses any other
// field.
type checkOutput struct {
	Checks []struct {
		Step     string `json:"step"`
		ID       string `json:"id"`
		Status   string `json:"status"`
		Measured string `json:"measured"`
		Required string `json:"required"`
		Message  string `json:"message"`
		Hint     string `json:"hint"`
	} `json:"checks"`
}

func decodeChecks(t *testing.T, stdout string) checkOutput {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(stdout))
	dec.DisallowUnknownFields()
	var out checkOutput
	if err := dec.Decode(&out); err != nil {
		t.Fatalf("--json output is not the documented shape: %v\n%s", err, stdout)
	}
	if dec.More() {
		t.Fatalf("--json printed more than one document:\n%s", stdout)
	}
	if !strings.Contains(stdout, `"checks": [`) {
		t.Fatalf("no checks list: %s", stdout)
	}
	return out
}

// status returns the status of the check id, or "" when it did not run.
func (o checkOutput) status(id string) string {
	for _, c := range o.Checks {
		if c.ID == id {
			return c.Status
		}
	}
	return ""
}

// TestCheckInvalidAnswers: an answers file that is wrong in one way is
// refused with exit status 2 and the field named on stderr, before any
// check runs.
func TestCheckInvalidAnswers(t *testing.T) {
	r := newHeadlessRelease(t)
	pw := r.write(t, "pg-admin", "secret\n")
	cases := []struct {
		name  string
		args  []string
		yaml  string
		field string
	}{
		{"unknown key", nil, "version: 1\ndomain: carto.example.com\ndomian: x\n", "domian: unknown field"},
		{"inline secret", []string{"database"}, "version: 1\ndatabase:\n  mode: external\n  host: db\n  admin_password: hunter2\n", "database.admin_password: a secret is never given inline"},
		{"missing file", []string{"database"}, "version: 1\ndatabase:\n  mode: external\n  host: db\n  admin_password_file: /nonexistent/pg\n", "database.admin_password_file: open /nonexistent/pg: no such file"},
		{"wrong type", []string{"database"}, "version: 1\ndatabase:\n  mode: external\n  port: five\n", "database.port: want a whole number"},
		{"unset env", []string{"database"}, "version: 1\ndatabase:\n  mode: external\n  host: db\n  admin_password_env: NOT_SET_PG\n", "database.admin_password_env: the environment variable NOT_SET_PG is not set"},
		{"version 2", nil, "version: 2\n", "version: 2 is not supported"},
		{"section missing for the step", []string{"tls"}, "version: 1\ndomain: carto.example.com\n", "tls: missing"},
		{"form error of the step", []string{"database"}, "version: 1\ndatabase:\n  mode: external\n  admin_password_file: " + pw + "\n", "database.host: Enter the database host"},
		{"bucket name", []string{"buckets"}, "version: 1\nbuckets:\n  mode: s3\n  imports: {bucket: Imports_Bucket}\n  thumbnails: {bucket: thumbs}\n  s3: {region: eu-west-1, access_key_id: AKIAEXAMPLE, secret_access_key_file: " + pw + "}\n", "buckets.imports.bucket:"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			file := r.answers(t, tc.yaml)
			code, stdout, stderr := r.run(t, append(append([]string{"check"}, tc.args...), "--answers", file)...)
			if code != 2 {
				t.Fatalf("exit %d, want 2\nstdout: %s\nstderr: %s", code, stdout, stderr)
			}
			if !strings.Contains(stderr, tc.field) {
				t.Fatalf("stderr does not name %q:\n%s", tc.field, stderr)
			}
			if strings.Contains(stderr, "hunter2") {
				t.Fatal("stderr shows the inline secret")
			}
		})
	}
	t.Run("unknown step", func(t *testing.T) {
		file := r.answers(t, "version: 1\n")
		if code, _, stderr := r.run(t, "check", "dns", "--answers", file); code != 2 || !strings.Contains(stderr, `unknown step "dns"`) {
			t.Fatalf("exit %d: %s", code, stderr)
		}
	})
}

// TestCheckJSONShape runs each step on its own with --json and decodes the
// output strictly into the documented shape.
func TestCheckJSONShape(t *testing.T) {
	r := newHeadlessRelease(t)
	certPEM, keyPEM, _, err := certcheck.SelfSigned("carto.example.com", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	r.write(t, "cert.pem", string(certPEM))
	r.write(t, "key.pem", string(keyPEM))
	r.env["PG_ADMIN"] = "secret"
	file := r.answers(t, fmt.Sprintf(`version: 1
package: {customer_env: {PKG}/customer.env, key_json: {PKG}/key.json}
domain: carto.example.com
database:
  mode: external
  host: 127.0.0.1
  port: %[1]d
  admin_password_env: PG_ADMIN
  ssl: false
cache: {mode: external, host: 127.0.0.1, port: %[1]d}
tls: {mode: upload, cert_file: {PKG}/cert.pem, key_file: {PKG}/key.pem}
buckets: {mode: carto-managed}
`, r.closed))
	for _, tc := range []struct {
		step, id, status string
		code             int
	}{
		{"preflight", "preflight.release_files", "pass", -1},
		{"package", "package.customer_env", "pass", 0},
		{"domain", "domain.resolves", "", 1},
		{"database", "database.connect", "fail", 1},
		{"cache", "cache.connect", "fail", 1},
		{"tls", "tls.san", "pass", 0},
		{"buckets", "buckets.carto_managed", "pass", 0},
	} {
		t.Run(tc.step, func(t *testing.T) {
			code, stdout, stderr := r.run(t, "check", tc.step, "--answers", file, "--json")
			out := decodeChecks(t, stdout)
			if len(out.Checks) == 0 {
				t.Fatalf("no checks; stderr: %s", stderr)
			}
			for _, c := range out.Checks {
				if c.Step != tc.step || c.ID == "" || !strings.HasPrefix(c.ID, tc.step+".") {
					t.Errorf("check %+v does not belong to step %s", c, tc.step)
				}
				if !slices.Contains([]string{"pass", "warn", "fail", "error"}, c.Status) {
					t.Errorf("check %s has status %q", c.ID, c.Status)
				}
				if c.Message == "" {
					t.Errorf("check %s has no message", c.ID)
				}
			}
			got := out.status(tc.id)
			if got == "" || (tc.status != "" && got != tc.status) {
				t.Errorf("%s: status %q, want %q; output: %s", tc.id, got, tc.status, stdout)
			}
			if tc.code >= 0 && code != tc.code {
				t.Errorf("exit %d, want %d; stderr: %s", code, tc.code, stderr)
			}
		})
	}
	t.Run("all steps", func(t *testing.T) {
		_, stdout, _ := r.run(t, "check", "--answers", file, "--json")
		out := decodeChecks(t, stdout)
		var steps []string
		for _, c := range out.Checks {
			if !slices.Contains(steps, c.Step) {
				steps = append(steps, c.Step)
			}
		}
		if want := []string{"preflight", "package", "domain", "database", "cache", "tls", "buckets"}; !slices.Equal(steps, want) {
			t.Errorf("steps %v, want %v in the wizard's order", steps, want)
		}
	})
	t.Run("table", func(t *testing.T) {
		code, stdout, stderr := r.run(t, "check", "database", "--answers", file)
		if code != 1 || !strings.Contains(stdout, "database.connect") || !strings.Contains(stdout, "Hints:") || !strings.Contains(stderr, "failed: database.connect") {
			t.Errorf("exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
		}
		if strings.Contains(stdout+stderr, "secret") {
			t.Error("the output shows the password")
		}
	})
}

// TestCheckDatabaseFailures runs the database step against a real
// PostgreSQL: a wrong password and a closed port each fail with their ID;
// the right password passes.
func TestCheckDatabaseFailures(t *testing.T) {
	pg := pgtest.Start(t, pgtest.Options{})
	r := newHeadlessRelease(t)
	r.env["PG_ADMIN"] = pg.Password
	r.env["PG_WRONG"] = "not-the-password"
	answers := func(port int, env string) string {
		return r.answers(t, fmt.Sprintf("version: 1\ndatabase:\n  mode: external\n  host: %s\n  port: %d\n  admin_user: %s\n  admin_password_env: %s\n  ssl: false\n", pg.Host, port, pg.User, env))
	}
	for _, tc := range []struct {
		name, file, id, status string
		code                   int
	}{
		{"right password", answers(pg.Port, "PG_ADMIN"), "database.auth", "pass", 0},
		{"wrong password", answers(pg.Port, "PG_WRONG"), "database.auth", "fail", 1},
		{"closed port", answers(r.closed, "PG_ADMIN"), "database.connect", "fail", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := r.run(t, "check", "database", "--answers", tc.file, "--json")
			out := decodeChecks(t, stdout)
			if got := out.status(tc.id); got != tc.status {
				t.Errorf("%s: %q, want %q\n%s", tc.id, got, tc.status, stdout)
			}
			if code != tc.code {
				t.Errorf("exit %d, want %d; stderr: %s", code, tc.code, stderr)
			}
			if strings.Contains(stdout+stderr, pg.Password) || strings.Contains(stdout+stderr, "not-the-password") {
				t.Error("the output shows a password")
			}
		})
	}
}

// TestCheckCertificateAndOverrides uploads a certificate for the domain
// that has expired: tls.validity fails, and an override in the file lets
// the check pass (the server still works, the admin knows). Failures that
// cannot be overridden still fail with one: names that do not cover the
// domain, and a key that does not match.
func TestCheckCertificateAndOverrides(t *testing.T) {
	r := newHeadlessRelease(t)
	longAgo := time.Now().AddDate(-2, 0, 0)
	expired, expiredKey, _, err := certcheck.SelfSigned("carto.example.com", longAgo)
	if err != nil {
		t.Fatal(err)
	}
	other, otherKey, _, err := certcheck.SelfSigned("other.example.com", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	r.write(t, "expired.crt", string(expired))
	r.write(t, "expired.key", string(expiredKey))
	r.write(t, "other.crt", string(other))
	r.write(t, "other.key", string(otherKey))
	tls := "version: 1\ndomain: carto.example.com\ntls: {mode: upload, cert_file: {PKG}/%s.crt, key_file: {PKG}/%s.key}\n"

	code, stdout, stderr := r.run(t, "check", "tls", "--json", "--answers", r.answers(t, fmt.Sprintf(tls, "expired", "expired")))
	if got := decodeChecks(t, stdout).status(certcheck.IDValidity); got != "fail" || code != 1 {
		t.Fatalf("tls.validity %q, exit %d; stderr: %s", got, code, stderr)
	}

	withOverride := fmt.Sprintf(tls, "expired", "expired") + "overrides:\n  - {check: tls.validity, reason: a renewed certificate is on its way}\n"
	code, stdout, stderr = r.run(t, "check", "--answers", r.answers(t, withOverride), "tls") // flags before the step
	if code != 0 {
		t.Fatalf("exit %d with tls.validity overridden\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, "fail (overridden)") || !strings.Contains(stdout, "a renewed certificate is on its way") {
		t.Errorf("the table does not show the override:\n%s", stdout)
	}

	for _, tc := range []struct{ cert, key, id string }{
		{"other", "other", certcheck.IDSAN},        // names that do not cover the domain
		{"expired", "other", certcheck.IDKeyMatch}, // a key that does not match
	} {
		fixed := fmt.Sprintf(tls, tc.cert, tc.key) + "overrides:\n  - {check: " + tc.id + ", reason: try anyway}\n"
		code, stdout, stderr = r.run(t, "check", "tls", "--json", "--answers", r.answers(t, fixed))
		if got := decodeChecks(t, stdout).status(tc.id); got != "fail" || code != 1 {
			t.Fatalf("%s %q, exit %d (it cannot be overridden); stderr: %s", tc.id, got, code, stderr)
		}
		if strings.Contains(stdout+stderr, "PRIVATE KEY") {
			t.Error("the output shows a private key")
		}
	}
}

// TestCheckBucketUnreachable checks S3 buckets at an endpoint nothing
// listens on.
func TestCheckBucketUnreachable(t *testing.T) {
	r := newHeadlessRelease(t)
	r.env["S3_SECRET"] = "s3-Secret-value"
	file := r.answers(t, fmt.Sprintf(`version: 1
buckets:
  mode: s3
  imports: {bucket: carto-imports}
  thumbnails: {bucket: carto-thumbnails, public: true}
  s3: {region: eu-west-1, access_key_id: AKIAEXAMPLE, secret_access_key_env: S3_SECRET, endpoint: "http://127.0.0.1:%d"}
`, r.closed))
	code, stdout, stderr := r.run(t, "check", "buckets", "--answers", file, "--json")
	if got := decodeChecks(t, stdout).status("buckets.endpoint"); got != "fail" || code != 1 {
		t.Fatalf("buckets.endpoint %q, exit %d\n%s\n%s", got, code, stdout, stderr)
	}
	if strings.Contains(stdout+stderr, "s3-Secret-value") {
		t.Error("the output shows the secret")
	}
}

// TestAnswersWithoutState: there is nothing to export before the wizard
// (or apply) has saved a state.
func TestAnswersWithoutState(t *testing.T) {
	r := newHeadlessRelease(t)
	var stdout, stderr bytes.Buffer
	err := app.Run(context.Background(), []string{"carto-setup", "answers", "--dir", r.dir, "--state-dir", filepath.Join(r.pkg, "empty")},
		func(string) string { return "" }, &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "no wizard state") || stdout.Len() > 0 {
		t.Fatalf("answers without a state: %v, stdout %q", err, stdout.String())
	}
}
