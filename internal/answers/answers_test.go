package answers

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/carto-setup/carto-setup/internal/certcheck"
	"github.com/carto-setup/carto-setup/internal/demo/release"
	"github.com/carto-setup/carto-setup/internal/steps"
	"github.com/carto-setup/carto-setup/internal/wizard"
)

func noEnv(string) string { return "" }

// TestParseProblems feeds files that are wrong in one way each and wants
// that way named at the field's path.
func TestParseProblems(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	os.WriteFile(pw, []byte("secret\n"), 0o600)
	cases := []struct {
		name, yaml, field, reason string
	}{
		{"empty", "", "version", "missing"},
		{"not yaml", "version: [1", "(file)", "not YAML"},
		{"no version", "domain: carto.example.com\n", "version", "missing"},
		{"version 2", "version: 2\n", "version", "2 is not supported"},
		{"version wrong type", "version: one\n", "version", `want a whole number, got "one"`},
		{"unknown top-level key", "version: 1\nfoo: bar\n", "foo", "unknown field"},
		{"unknown nested key", "version: 1\ndatabase:\n  mode: external\n  hots: db\n", "database.hots", "unknown field"},
		{"duplicate key", "version: 1\ndomain: a.example.com\ndomain: b.example.com\n", "domain", ""},
		{"inline database password", "version: 1\ndatabase:\n  mode: external\n  admin_password: hunter2\n", "database.admin_password", "never given inline"},
		{"inline s3 secret", "version: 1\nbuckets:\n  mode: s3\n  s3: {secret_access_key: abc}\n", "buckets.s3.secret_access_key", "never given inline"},
		{"inline cache password", "version: 1\ncache: {mode: external, password: x}\n", "cache.password", "never given inline"},
		{"inline tls key", "version: 1\ntls: {mode: upload, key: x}\n", "tls.key", "never given inline"},
		{"wrong type port", "version: 1\ndatabase:\n  mode: external\n  port: fivefourthreetwo\n", "database.port", "want a whole number"},
		{"wrong type ssl", "version: 1\ndatabase:\n  mode: external\n  ssl: maybe\n", "database.ssl", "want true or false"},
		{"section not a mapping", "version: 1\ndatabase: external\n", "database", "want a mapping"},
		{"overrides not a list", "version: 1\noverrides: {check: x}\n", "overrides", "want a list"},
		{"missing file", "version: 1\ndatabase:\n  mode: external\n  admin_password_file: /nonexistent/pg-admin\n", "database.admin_password_file", "open /nonexistent/pg-admin: no such file"},
		{"relative missing file", "version: 1\ntls: {mode: upload, cert_file: nope.crt, key_file: " + pw + "}\n", "tls.cert_file", "open " + filepath.Join(dir, "nope.crt") + ": no such file"},
		{"unset env", "version: 1\ndatabase:\n  mode: external\n  admin_password_env: PG_ADMIN_PASSWORD\n", "database.admin_password_env", "PG_ADMIN_PASSWORD is not set"},
		{"file and env", "version: 1\ncache: {mode: external, password_file: " + pw + ", password_env: X}\n", "cache.password_file", "not both"},
		{"override without reason", "version: 1\noverrides:\n  - check: preflight.memory\n", "overrides[0].reason", "missing"},
		{"package half", "version: 1\npackage: {customer_env: " + pw + "}\n", "package.key_json", "missing"},
		{"provider section missing", "version: 1\nbuckets: {mode: gcs}\n", "buckets.gcs", "missing"},
		{"inline maps key", "version: 1\nadvanced: {google_maps_api_key: AIza123}\n", "advanced.google_maps_api_key", "never given inline"},
		{"inline oauth secret", "version: 1\nadvanced: {bigquery_oauth_client_secret: x}\n", "advanced.bigquery_oauth_client_secret", "never given inline"},
		{"further value two ways", "version: 1\nadvanced:\n  extra:\n    - {key: A, value: x, value_file: " + pw + "}\n", "advanced.extra[0]", "only one"},
		{"further value file missing", "version: 1\nadvanced:\n  extra:\n    - {key: A, value_file: /nonexistent/a}\n", "advanced.extra[0].value_file", "no such file"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml), dir, noEnv)
			var ae *Error
			if !errors.As(err, &ae) {
				t.Fatalf("Parse: %v, want an *Error", err)
			}
			for _, p := range ae.Problems {
				if p.Field == tc.field && strings.Contains(p.Reason, tc.reason) {
					return
				}
			}
			t.Fatalf("problems %q, want %s: ...%s...", ae.Error(), tc.field, tc.reason)
		})
	}
}

// TestParseNoSecretInErrors makes sure a secret typed inline by mistake is
// not echoed back in the error.
func TestParseNoSecretInErrors(t *testing.T) {
	_, err := Parse([]byte("version: 1\ndatabase:\n  mode: external\n  admin_password: hunter2-Secret\n"), "", noEnv)
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("error %v", err)
	}
}

// writeFiles writes name -> content into dir and returns dir.
func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestResolve reads secrets from files (without their trailing newline)
// and the environment, and fills the wizard's defaults.
func TestResolve(t *testing.T) {
	dir := writeFiles(t, map[string]string{"pg-admin": "admin-Secret\n", "ca.pem": "CA\n"})
	env := map[string]string{"WS_PASSWORD": "ws-Secret", "S3_SECRET": "s3-Secret"}
	getenv := func(k string) string { return env[k] }
	f, err := Parse([]byte(`version: 1
domain: Carto.Example.com
database:
  mode: external
  host: db.example.com
  admin_password_file: pg-admin
  workspace_password_env: WS_PASSWORD
  ssl_ca_file: ca.pem
buckets:
  mode: s3
  imports: {bucket: imports}
  thumbnails: {bucket: thumbs, public: true}
  s3: {region: eu-west-1, access_key_id: AKIAEXAMPLE, secret_access_key_env: S3_SECRET}
  gcs: {project_id: ignored-project}
overrides:
  - {check: preflight.memory, reason: sized for a pilot}
`), dir, getenv)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Resolve(f, getenv)
	if err != nil {
		t.Fatal(err)
	}
	want := Resolved{
		Domain: &steps.DomainForm{Domain: "Carto.Example.com"},
		Database: &wizard.DatabaseInput{Mode: "external", Host: "db.example.com", Port: 5432, AdminUser: "postgres", AdminPassword: "admin-Secret",
			AdminDatabase: "postgres", WorkspaceUser: "workspace_admin", WorkspacePassword: "ws-Secret", WorkspaceDatabase: "workspace",
			SSL: true, SSLMode: "require", CAPEM: "CA\n"},
		Cache: &wizard.CacheInput{Mode: "embedded", Port: 6379},
		Buckets: &steps.BucketsForm{BucketsInput: wizard.BucketsInput{Mode: "s3", Imports: wizard.BucketInput{Name: "imports"}, Thumbnails: wizard.BucketInput{Name: "thumbs", Public: true},
			S3Region: "eu-west-1", S3AccessKeyID: "AKIAEXAMPLE", S3SecretAccessKey: "s3-Secret"}},
		Advanced: &steps.AdvancedForm{}, // absent: no Advanced settings
	}
	if diff := cmp.Diff(want, res); diff != "" {
		t.Errorf("inputs (-want +got):\n%s", diff)
	}
	if got := f.Reasons(); got["preflight.memory"] != "sized for a pilot" {
		t.Errorf("reasons %v", got)
	}
	// A secret that disappears between Parse and Resolve names its field.
	os.Remove(filepath.Join(dir, "pg-admin"))
	_, err = Resolve(f, getenv)
	if err == nil || !strings.Contains(err.Error(), "database.admin_password_file: open ") {
		t.Errorf("Resolve after removing the file: %v", err)
	}
}

// TestExportRoundTrip exports a state, parses the export and resolves it
// back to the same inputs, with every secret in a 0600 file.
func TestExportRoundTrip(t *testing.T) {
	now := time.Now()
	certPEM, keyPEM, fp, err := certcheck.SelfSigned("carto.example.com", now)
	if err != nil {
		t.Fatal(err)
	}
	key, err := release.SampleKeyJSON()
	if err != nil {
		t.Fatal(err)
	}
	st := wizard.State{
		Package: wizard.PackageInput{CustomerEnv: string(release.SampleCustomerEnv("carto.example.com")), KeyJSON: string(key),
			Summary: wizard.PackageSummary{Tenant: release.SampleTenantID, PackageVersion: release.SamplePackageVersion, ServiceAccount: release.SampleClientEmail, Project: release.SampleGCPProjectID}},
		Domain: wizard.DomainInput{Domain: "carto.example.com", BrowserNonce: "n"},
		Database: wizard.DatabaseInput{Mode: "external", Host: "db", Port: 5433, AdminUser: "admin", AdminPassword: "a-Secret", AdminDatabase: "postgres",
			WorkspaceUser: "ws", WorkspacePassword: "w-Secret", WorkspaceDatabase: "workspace", SSL: false, SSLMode: "disable"},
		Cache:   wizard.CacheInput{Mode: "external", Host: "redis", Port: 6380, Password: "r-Secret", TLS: true, CAPEM: "CA"},
		TLS:     wizard.TLSInput{Mode: wizard.TLSSelfSigned, CertPEM: string(certPEM), KeyPEM: string(keyPEM), Fingerprint: fp},
		Buckets: wizard.BucketsInput{Mode: "azure", Imports: wizard.BucketInput{Name: "imports"}, Thumbnails: wizard.BucketInput{Name: "thumbs", Public: true}, AzureStorageAccount: "acct", AzureAccessKey: "a2V5"},
		Advanced: wizard.AdvancedInput{HTTPProxy: "http://proxy.internal:3128", HTTPSProxy: "http://proxy.internal:3128", NoProxy: "localhost,.internal",
			ExtraCAPEM: "-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n", SkipTLSVerify: true, GoogleMapsAPIKey: "AIza-maps-Secret-0123456789",
			BigQueryOAuthClientID: "123-abc.apps.googleusercontent.com", BigQueryOAuthClientSecret: "oauth-Secret",
			Extra: []wizard.AdvancedVar{{Key: "LOG_LEVEL", Value: "debug"}, {Key: "MY_TOKEN", Value: "token-Secret", Secret: true}}},
		Overrides: []wizard.Override{{Check: "preflight.cpu", Reason: "pilot", At: now}, {Check: "tls.self_signed", Reason: wizard.WarningReason, At: now}},
	}
	stateDir := t.TempDir()
	// A file of an earlier export that this one does not need goes away.
	os.MkdirAll(filepath.Join(stateDir, SecretsDir), 0o700)
	os.WriteFile(filepath.Join(stateDir, SecretsDir, "s3-secret-access-key"), []byte("old"), 0o600)

	out, err := Export(st, stateDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range st.Secrets() {
		if strings.Contains(string(out), s) {
			t.Errorf("the export holds a secret: %q", s)
		}
	}
	entries, _ := os.ReadDir(filepath.Join(stateDir, SecretsDir))
	for _, e := range entries {
		fi, _ := e.Info()
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v", e.Name(), fi.Mode().Perm())
		}
		if e.Name() == "s3-secret-access-key" {
			t.Error("a stale secret file stayed")
		}
	}
	f, err := Parse(out, t.TempDir(), noEnv)
	if err != nil {
		t.Fatalf("the export does not parse: %v\n%s", err, out)
	}
	got, err := Resolve(f, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if string(got.Package.CustomerEnv) != st.Package.CustomerEnv || string(got.Package.KeyJSON) != st.Package.KeyJSON {
		t.Error("the package did not round-trip")
	}
	if got.Domain.Domain != st.Domain.Domain {
		t.Errorf("domain %q", got.Domain.Domain)
	}
	for name, pair := range map[string][2]any{
		"database": {st.Database, *got.Database}, "cache": {st.Cache, *got.Cache}, "buckets": {st.Buckets, got.Buckets.BucketsInput},
		"advanced": {st.Advanced, got.Advanced.AdvancedInput},
	} {
		if diff := cmp.Diff(pair[0], pair[1]); diff != "" {
			t.Errorf("%s (-want +got):\n%s", name, diff)
		}
	}
	if got.TLS.CertPEM != st.TLS.CertPEM || got.TLS.KeyPEM != st.TLS.KeyPEM || got.TLS.Mode != st.TLS.Mode {
		t.Error("the certificate did not round-trip")
	}
	if diff := cmp.Diff([]Override{{Check: "preflight.cpu", Reason: "pilot"}}, f.Overrides); diff != "" {
		t.Errorf("overrides (-want +got):\n%s", diff)
	}
}

// TestParseNewerVersion: a file of a newer version is refused for its
// version alone, not for every key this version does not know.
func TestParseNewerVersion(t *testing.T) {
	_, err := Parse([]byte("version: 2\nnew_section: {a: b}\n"), "", noEnv)
	var ae *Error
	if !errors.As(err, &ae) || len(ae.Problems) != 1 || ae.Problems[0].Field != "version" {
		t.Fatalf("Parse: %v", err)
	}
}
