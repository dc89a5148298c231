package app_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/carto-setup/carto-setup/internal/certcheck"
	"github.com/carto-setup/carto-setup/internal/k8sexport"
)

// Secrets of the export's answers file, each in a file beside it.
const (
	exportAdminPassword     = "Adm1n-Export-Secret"
	exportWorkspacePassword = "W0rkspace-Export-Secret"
	exportCachePassword     = "Cache-Export-Secret-9"
	exportS3Secret          = "S3-Export-Secret-Access-Key"
)

// exportAnswers writes an answers file as `carto-setup answers` would: an
// external PostgreSQL with verify-full (which Helm reduces to SSL on), an
// external cache, an uploaded certificate, S3 buckets. It returns its path
// and the private key.
func exportAnswers(t *testing.T) (string, string) {
	t.Helper()
	dir := t.TempDir()
	cert, key, _, err := certcheck.SelfSigned("carto.export.test", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string]string{
		"admin-password": exportAdminPassword, "workspace-password": exportWorkspacePassword, "cache-password": exportCachePassword,
		"s3-secret": exportS3Secret, "tls.crt": string(cert), "tls.key": string(key),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(dir, "answers.yaml")
	text := `version: 1
domain: carto.export.test
database:
  mode: external
  host: pg.internal
  port: 5432
  admin_user: postgres
  admin_password_file: admin-password
  admin_database: postgres
  workspace_user: workspace_admin
  workspace_password_file: workspace-password
  workspace_database: workspace
  ssl: true
  ssl_mode: require
cache:
  mode: external
  host: redis.internal
  port: 6380
  password_file: cache-password
tls:
  mode: upload
  cert_file: tls.crt
  key_file: tls.key
buckets:
  mode: s3
  imports: {bucket: carto-imports}
  thumbnails: {bucket: carto-thumbnails, public: true}
  s3:
    region: eu-west-1
    access_key_id: AKIAEXPORTTEST
    secret_access_key_file: s3-secret
`
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, string(key)
}

// TestExportCommand runs `carto-setup export` as an admin would: Helm
// values with the secrets inline and as Secret references, and KOTS
// ConfigValues; secrets only in the owner-only files; exporting the same
// answers again changes nothing, and different answers over existing files
// need --force, which keeps the old file.
func TestExportCommand(t *testing.T) {
	t.Parallel()
	answersFile, keyPEM := exportAnswers(t)
	secrets := []string{exportAdminPassword, exportWorkspacePassword, exportCachePassword, exportS3Secret, strings.Split(keyPEM, "\n")[1]}
	out := filepath.Join(t.TempDir(), "helm")

	code, stdout, stderr := runApp(t, "export", "helm", "--answers", answersFile, "-o", out)
	if code != 0 || !strings.Contains(stdout, "Wrote customizations.yaml") {
		t.Fatalf("export helm: exit %d\n%s%s", code, stdout, stderr)
	}
	read := func(name string) (string, os.FileMode) {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(out, name))
		if err != nil {
			t.Fatal(err)
		}
		fi, _ := os.Stat(filepath.Join(out, name))
		return string(b), fi.Mode().Perm()
	}
	values, vmode := read(k8sexport.ValuesFile)
	secretValues, smode := read(k8sexport.SecretsFile)
	report, _ := read(k8sexport.ReportFile)
	if smode != 0o600 || vmode&0o077 != 0o044 {
		t.Errorf("modes: %s %o, %s %o", k8sexport.ValuesFile, vmode, k8sexport.SecretsFile, smode)
	}
	var parsed map[string]any
	if err := yaml.Unmarshal([]byte(values), &parsed); err != nil {
		t.Fatalf("%s does not parse: %v", k8sexport.ValuesFile, err)
	}
	for _, want := range []string{"selfHostedDomain: carto.export.test", "host: pg.internal", "host: redis.internal", "carto-imports"} {
		if !strings.Contains(values, want) {
			t.Errorf("%s lacks %q:\n%s", k8sexport.ValuesFile, want, values)
		}
	}
	for _, s := range secrets {
		if strings.Contains(values, s) || strings.Contains(report, s) || strings.Contains(stdout+stderr, s) {
			t.Errorf("a secret (%.6s…) is in customizations.yaml, REPORT.md or the output", s)
		}
	}
	for _, s := range []string{exportAdminPassword, exportCachePassword, exportS3Secret} {
		if !strings.Contains(secretValues, s) {
			t.Errorf("%s lacks a secret (%.6s…)", k8sexport.SecretsFile, s)
		}
	}

	// The same answers again: nothing changes.
	if code, stdout, stderr := runApp(t, "export", "helm", "--answers", answersFile, "-o", out); code != 0 {
		t.Fatalf("export helm again: exit %d\n%s%s", code, stdout, stderr)
	}
	if again, _ := read(k8sexport.ValuesFile); again != values {
		t.Error("exporting the same answers again changed customizations.yaml")
	}
	// Other answers over the files: refused without --force, kept as
	// a backup with it.
	text, _ := os.ReadFile(answersFile)
	os.WriteFile(answersFile, []byte(strings.Replace(string(text), "pg.internal", "pg2.internal", 1)), 0o600)
	code, _, stderr = runApp(t, "export", "helm", "--answers", answersFile, "-o", out)
	if code != 1 || !strings.Contains(stderr, "--force") {
		t.Fatalf("export over other files: exit %d, want 1 naming --force:\n%s", code, stderr)
	}
	if code, _, stderr := runApp(t, "export", "helm", "--answers", answersFile, "-o", out, "--force"); code != 0 {
		t.Fatalf("export --force: exit %d:\n%s", code, stderr)
	}
	if got, _ := read(k8sexport.ValuesFile); !strings.Contains(got, "pg2.internal") {
		t.Error("--force did not write the new values")
	}
	if backups, _ := filepath.Glob(filepath.Join(out, k8sexport.ValuesFile+".bak-*")); len(backups) != 1 {
		t.Errorf("backups of the old values: %v", backups)
	}

	// Secret references: the values file names Secrets, the values sit in
	// secrets/, the report has the kubectl commands.
	refs := filepath.Join(t.TempDir(), "refs")
	code, stdout, stderr = runApp(t, "export", "helm", "--answers", answersFile, "-o", refs, "--secret-refs")
	if code != 0 {
		t.Fatalf("export helm --secret-refs: exit %d\n%s%s", code, stdout, stderr)
	}
	refSecrets, _ := os.ReadFile(filepath.Join(refs, k8sexport.SecretsFile))
	refReport, _ := os.ReadFile(filepath.Join(refs, k8sexport.ReportFile))
	for _, s := range secrets {
		if strings.Contains(string(refSecrets), s) || strings.Contains(string(refReport), s) {
			t.Errorf("with --secret-refs a secret (%.6s…) is in the values or the report", s)
		}
	}
	if !strings.Contains(string(refReport), "kubectl create secret") {
		t.Errorf("REPORT.md has no kubectl commands:\n%s", refReport)
	}

	// KOTS: one owner-only file; the losses on stderr.
	kots := filepath.Join(t.TempDir(), "configvalues.yaml")
	code, stdout, stderr = runApp(t, "export", "kots", "--answers", answersFile, "-o", kots)
	if code != 0 || !strings.Contains(stdout, "Wrote "+kots) {
		t.Fatalf("export kots: exit %d\n%s%s", code, stdout, stderr)
	}
	if fi, err := os.Stat(kots); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("kots file: %v %v", fi, err)
	}
	if !strings.Contains(stderr, "do not carry over to KOTS") || !strings.Contains(stderr, "CREATE") {
		t.Errorf("the KOTS losses (admin credentials with the SQL to run first) are not on stderr:\n%s", stderr)
	}
	doc, _ := os.ReadFile(kots)
	if !strings.Contains(string(doc), "kind: ConfigValues") || !strings.Contains(string(doc), exportWorkspacePassword) {
		t.Errorf("kots file:\n%s", doc)
	}

	// Usage errors and an incomplete answers file.
	if code, _, stderr := runApp(t, "export", "compose", "--answers", answersFile, "-o", out); code != 2 || !strings.Contains(stderr, "helm or kots") {
		t.Errorf("export compose: exit %d:\n%s", code, stderr)
	}
	partial := filepath.Join(t.TempDir(), "partial.yaml")
	os.WriteFile(partial, []byte("version: 1\ndomain: carto.export.test\n"), 0o600)
	if code, _, stderr := runApp(t, "export", "kots", "--answers", partial, "-o", kots+".2"); code != 2 || !strings.Contains(stderr, "database") {
		t.Errorf("export of a partial answers file: exit %d:\n%s", code, stderr)
	}
}
