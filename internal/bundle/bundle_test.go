package bundle

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/carto-setup/carto-setup/internal/wizard"
)

func testKey(t *testing.T) string {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

// extract returns the archive's files by name (without the directory).
func extract(t *testing.T, b *Bundle) map[string]string {
	t.Helper()
	var buf bytes.Buffer
	if err := b.WriteTarGz(&buf); err != nil {
		t.Fatal(err)
	}
	gz, err := gzip.NewReader(&buf)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	out := map[string]string{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(tr)
		dir, name, _ := strings.Cut(h.Name, "/")
		if dir != b.Dir() {
			t.Errorf("%s is not under %s", h.Name, b.Dir())
		}
		out[name] = string(data)
	}
	return out
}

func TestBuildMasksEverySecret(t *testing.T) {
	pk := testKey(t)
	keyJSON, _ := json.Marshal(map[string]string{"type": "service_account", "private_key_id": "0123456789abcdef0123", "private_key": pk, "client_email": "sa@p.iam.gserviceaccount.com"})
	routerKey := testKey(t)
	st := wizard.State{
		Package:  wizard.PackageInput{KeyJSON: string(keyJSON), CustomerEnv: "POSTGRES_ADMIN_PASSWORD=should-not-appear\n"},
		Database: wizard.DatabaseInput{AdminPassword: "Adm1n-Pa55word", WorkspacePassword: "W0rkspace-Pa55"},
		Cache:    wizard.CacheInput{Password: "Ab1"},
		TLS:      wizard.TLSInput{KeyPEM: routerKey, CertPEM: "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"},
		Buckets:  wizard.BucketsInput{Mode: "s3", S3AccessKeyID: "AKIAEXAMPLE", S3SecretAccessKey: "s3-Secret-Access-Key-1234"},
	}
	stateJSON, err := StateJSON(st)
	if err != nil {
		t.Fatal(err)
	}
	customerEnv := "SELFHOSTED_DOMAIN=carto.example.com\nPOSTGRES_ADMIN_PASSWORD=\"Adm1n-Pa55word\"\n" +
		"# REDIS_PASSWORD=commented-Secret-99\nCARTO_INTERNAL_TOKEN=package-internal-token-xyz\nROUTER_SSL_CERTIFICATE_KEY_PATH=/etc/nginx/ssl/carto-router.key\n" +
		"VALKEY_DOCKER_IMAGE=gcr.io/carto-onprem-artifacts/valkey:2026.1\nVALKEY_SENTINEL_DOCKER_IMAGE=gcr.io/carto-onprem-artifacts/valkey-sentinel:2026.1\n" +
		"LEGACY_DB_PASSWD=/slash-first-pw\nPURGE_SECRET: colon-form-9\n"
	dotEnv := customerEnv + "WORKSPACE_POSTGRES_PASSWORD=W0rkspace-Pa55\nAWS_SECRET=s3-Secret-Access-Key-1234\n"
	logs := "2026-01-01 connecting as postgres with password Adm1n-Pa55word\n" +
		"legacy login /slash-first-pw, purge colon-form-9, cache pw Ab1 (short)\n" +
		"token package-internal-token-xyz in a log\n" + strings.Split(pk, "\n")[3] + "\n"
	b, err := Build([]File{
		{Name: "wizard-state.json", Data: stateJSON},
		{Name: "release/customer.env", Data: []byte(customerEnv), Env: true},
		{Name: "release/.env", Data: []byte(dotEnv), Env: true},
		{Name: "logs/router-http.log", Data: []byte(logs)},
		{Name: "key-copy.json", Data: keyJSON},
	}, StateSecrets(st), "test", time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	files := extract(t, b)
	secrets := []string{"Adm1n-Pa55word", "W0rkspace-Pa55", "Ab1)", "\"Ab1\"", "s3-Secret-Access-Key-1234", "commented-Secret-99",
		"/slash-first-pw", "colon-form-9",
		"package-internal-token-xyz", "0123456789abcdef0123", "should-not-appear", "PRIVATE KEY"}
	for _, line := range strings.Split(pk+routerKey, "\n") {
		if len(line) > 20 && !strings.HasPrefix(line, "-----") {
			secrets = append(secrets, line)
		}
	}
	for name, data := range files {
		for _, s := range secrets {
			if strings.Contains(data, s) {
				t.Errorf("%s contains the secret %q", name, s)
			}
		}
	}
	for _, want := range []string{"manifest.json", "redactions.json", "wizard-state.json", "release/customer.env", "release/.env", "logs/router-http.log"} {
		if _, ok := files[want]; !ok {
			t.Errorf("the bundle has no %s", want)
		}
	}
	if !strings.Contains(files["release/.env"], "ROUTER_SSL_CERTIFICATE_KEY_PATH=/etc/nginx/ssl/carto-router.key") {
		t.Error("a path-valued key was masked")
	}
	if !strings.Contains(files["release/customer.env"], "SELFHOSTED_DOMAIN=carto.example.com") {
		t.Error("a plain value was masked")
	}
	for _, image := range []string{"VALKEY_DOCKER_IMAGE=gcr.io/carto-onprem-artifacts/valkey:2026.1", "VALKEY_SENTINEL_DOCKER_IMAGE=gcr.io/carto-onprem-artifacts/valkey-sentinel:2026.1"} {
		if !strings.Contains(files["release/.env"], image) || !strings.Contains(files["release/customer.env"], image) {
			t.Errorf("an image reference was masked: %s", image)
		}
	}
	got := map[string]int{}
	for _, r := range b.Redactions() {
		got[r.File+": "+r.What] += r.Count
	}
	for _, want := range []string{
		"wizard-state.json: database admin password", "wizard-state.json: database workspace password", "wizard-state.json: cache password",
		"wizard-state.json: S3 secret access key", "wizard-state.json: router certificate private key", "wizard-state.json: key.json",
		"logs/router-http.log: database admin password", "logs/router-http.log: value of CARTO_INTERNAL_TOKEN", "logs/router-http.log: key.json private key",
		"logs/router-http.log: value of LEGACY_DB_PASSWD", "logs/router-http.log: value of PURGE_SECRET", "logs/router-http.log: cache password",
		"release/customer.env: database admin password", "release/customer.env: value of REDIS_PASSWORD",
		"release/.env: S3 secret access key", "key-copy.json: key.json",
	} {
		if got[want] == 0 {
			t.Errorf("the redaction report does not count %q; it has %v", want, got)
		}
	}
	if strings.Contains(files["redactions.json"], "Adm1n") {
		t.Error("the report holds a value")
	}
	var m struct {
		Files []struct{ Name string } `json:"files"`
	}
	if err := json.Unmarshal([]byte(files["manifest.json"]), &m); err != nil || len(m.Files) != len(files)-1 {
		t.Errorf("manifest lists %d files (err %v), the archive has %d besides it", len(m.Files), err, len(files)-1)
	}
	if e := b.Entries(); len(e) != len(files) || e[0].Name != ManifestFile {
		t.Errorf("entries %v", e)
	}
}

func TestBuildRefusesBadNames(t *testing.T) {
	for _, name := range []string{"", "../x", "/etc/passwd", ManifestFile} {
		if _, err := Build([]File{{Name: name}}, nil, "", time.Now()); err == nil {
			t.Errorf("Build accepted %q", name)
		}
	}
}
