package answers

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"go.yaml.in/yaml/v3"

	"github.com/carto-setup/carto-setup/internal/atomicfile"
	"github.com/carto-setup/carto-setup/internal/wizard"
)

// SecretsDir is the directory, inside the state directory, where Export
// keeps the files its answers refer to.
const SecretsDir = "answers-secrets"

// exportHeader opens every exported file.
const exportHeader = `# carto-setup answers file, written by "carto-setup answers".
# Replay it with: carto-setup apply --answers FILE
# Secrets are not in this file: the *_file paths point to 0600 files in the
# state directory. Keep those private, and copy them along with this file.
`

// Export returns the answers file for st: the sections the wizard has
// answers for and the overrides the admin typed a reason for. Every secret,
// and every file the wizard keeps (the customer package, CA certificates,
// the router certificate), is written to stateDir/answers-secrets/ with mode
// 0600 and referred to by its absolute path, so that `apply` accepts the
// file unchanged. Files of an earlier export that this one does not need are
// removed, so no stale secret stays behind.
func Export(st wizard.State, stateDir string) ([]byte, error) {
	dir := filepath.Join(stateDir, SecretsDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("answers: export: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, fmt.Errorf("answers: export: %w", err)
	}
	written := map[string]bool{}
	var werr error
	put := func(name, data string) string {
		if data == "" || werr != nil {
			return ""
		}
		path := filepath.Join(dir, name)
		if err := atomicfile.WriteFile(path, []byte(data), 0o600); err != nil {
			werr = fmt.Errorf("answers: export: %w", err)
			return ""
		}
		written[name] = true
		return path
	}

	f := File{Version: Version, Domain: st.Domain.Domain}
	if p := st.Package; p.CustomerEnv != "" {
		f.Package = &Package{CustomerEnv: put("customer.env", p.CustomerEnv), KeyJSON: put("key.json", p.KeyJSON)}
	}
	if db := st.Database; db.Mode != "" {
		ssl := db.SSL
		f.Database = &Database{
			Mode: db.Mode, Host: db.Host, Port: db.Port, AdminUser: db.AdminUser,
			AdminPasswordFile: put("database-admin-password", db.AdminPassword), AdminDatabase: db.AdminDatabase,
			WorkspaceUser: db.WorkspaceUser, WorkspacePasswordFile: put("database-workspace-password", db.WorkspacePassword),
			WorkspaceDatabase: db.WorkspaceDatabase, SSL: &ssl, SSLMode: db.SSLMode, SSLCAFile: put("database-ca.pem", db.CAPEM),
		}
	}
	if c := st.Cache; c.Mode != "" {
		f.Cache = &Cache{Mode: c.Mode, Host: c.Host, Port: c.Port, PasswordFile: put("cache-password", c.Password),
			TLS: c.TLS, TLSCAFile: put("cache-ca.pem", c.CAPEM)}
	}
	if t := st.TLS; t.Mode != "" {
		f.TLS = &TLS{Mode: t.Mode, CertFile: put("tls-cert.pem", t.CertPEM), KeyFile: put("tls-key.pem", t.KeyPEM),
			ACMEEmail: t.ACMEEmail, ACMEDirectory: t.ACMEDirectory}
	}
	if b := st.Buckets; b.Mode != "" {
		f.Buckets = &Buckets{
			Mode:       b.Mode,
			Imports:    Bucket{Bucket: b.Imports.Name, Public: &b.Imports.Public},
			Thumbnails: Bucket{Bucket: b.Thumbnails.Name, Public: &b.Thumbnails.Public},
		}
		switch b.Mode {
		case wizard.BucketsGCS:
			f.Buckets.GCS = &GCS{ProjectID: b.GCSProjectID, KeyFile: put("gcs-key.json", b.GCSKeyJSON)}
		case wizard.BucketsS3:
			f.Buckets.S3 = &S3{Region: b.S3Region, AccessKeyID: b.S3AccessKeyID,
				SecretAccessKeyFile: put("s3-secret-access-key", b.S3SecretAccessKey), Endpoint: b.S3Endpoint}
		case wizard.BucketsAzure:
			f.Buckets.Azure = &Azure{StorageAccount: b.AzureStorageAccount, AccessKeyFile: put("azure-access-key", b.AzureAccessKey)}
		}
	}
	f.Advanced = exportAdvanced(st.Advanced, put)
	for _, o := range st.Overrides {
		if o.Reason != wizard.WarningReason { // recorded by itself, not typed
			f.Overrides = append(f.Overrides, Override{Check: o.Check, Reason: o.Reason})
		}
	}
	if werr != nil {
		return nil, werr
	}
	if err := removeStale(dir, written); err != nil {
		return nil, err
	}

	var buf bytes.Buffer
	buf.WriteString(exportHeader)
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(f); err != nil {
		return nil, fmt.Errorf("answers: export: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("answers: export: %w", err)
	}
	if err := checkNoSecrets(buf.Bytes(), st); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// removeStale deletes the files of the secrets directory that this export
// did not write.
func removeStale(dir string, keep map[string]bool) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("answers: export: %w", err)
	}
	for _, e := range entries {
		if keep[e.Name()] || !e.Type().IsRegular() {
			continue
		}
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("answers: export: %w", err)
		}
	}
	return nil
}
