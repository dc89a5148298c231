package server

import (
	"archive/zip"
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/carto-setup/carto-setup/internal/certcheck"
	"github.com/carto-setup/carto-setup/internal/k8sexport"
	"github.com/carto-setup/carto-setup/internal/testenv"
	"github.com/carto-setup/carto-setup/internal/wizard"
)

// TestFinishPageExportDownloads: the finish page links the Kubernetes
// exports; each download (behind the session) holds the wizard's answers,
// the Advanced settings included, with the secrets only where they belong,
// is never cached, and nothing of it reaches the log.
func TestFinishPageExportDownloads(t *testing.T) {
	f := newFixture(t)
	var logOut testenv.Buffer
	f.deps.Log = slog.New(slog.NewTextHandler(&logOut, nil))
	f.router = routes(f.deps)
	get := func(path string) (*http.Response, []byte) {
		t.Helper()
		req := httptest.NewRequest("GET", path, nil)
		req.AddCookie(f.cookie)
		res := f.do(t, req)
		body, _ := io.ReadAll(res.Body)
		return res, body
	}

	// Not exportable yet: a 422 that names what is missing.
	if res, body := get("/finish/export/kots.yaml"); res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(string(body), "cannot be exported yet") {
		t.Fatalf("export of an empty state: %d\n%s", res.StatusCode, body)
	}

	cert, key, _, err := certcheck.SelfSigned("carto.example.com", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	const dbPassword, mapsKey, extraSecret = "Db-Admin-Secret-1", "AIzaSyExportTestKey0123456789", "extra-Secret-Value-1"
	if _, err := f.deps.Store.Update(func(st *wizard.State) error {
		st.Domain.Domain = "carto.example.com"
		st.Database = wizard.DatabaseInput{Mode: wizard.ModeExternal, Host: "pg.internal", Port: 5432, AdminUser: "postgres", AdminPassword: dbPassword,
			AdminDatabase: "postgres", WorkspaceUser: "workspace_admin", WorkspacePassword: "Ws-Secret-2", WorkspaceDatabase: "workspace", SSL: true, SSLMode: "require"}
		st.Cache = wizard.CacheInput{Mode: wizard.ModeEmbedded}
		st.TLS = wizard.TLSInput{Mode: wizard.TLSUpload, CertPEM: string(cert), KeyPEM: string(key)}
		st.Buckets = wizard.BucketsInput{Mode: wizard.BucketsCartoManaged}
		st.Advanced = wizard.AdvancedInput{HTTPSProxy: "http://proxy.internal:3128", NoProxy: "localhost,.internal", GoogleMapsAPIKey: mapsKey,
			Extra: []wizard.AdvancedVar{{Key: "SOME_SETTING", Value: extraSecret, Secret: true}}}
		for _, s := range wizard.Steps {
			st.MarkDone(s)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	secrets := []string{dbPassword, "Ws-Secret-2", mapsKey, extraSecret, strings.Split(string(key), "\n")[1]}

	if res, body := get("/finish"); res.StatusCode != http.StatusOK ||
		!strings.Contains(string(body), `href="/finish/export/helm.zip"`) || !strings.Contains(string(body), `href="/finish/export/kots.yaml"`) {
		t.Fatalf("finish page: %d, no export links:\n%s", res.StatusCode, body)
	}

	unzip := func(data []byte) map[string]string {
		t.Helper()
		zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			t.Fatal(err)
		}
		files := map[string]string{}
		for _, zf := range zr.File {
			rc, _ := zf.Open()
			b, _ := io.ReadAll(rc)
			rc.Close()
			files[strings.TrimPrefix(zf.Name, exportDir+"/")] = string(b)
		}
		return files
	}
	res, body := get("/finish/export/helm.zip")
	if res.StatusCode != http.StatusOK || res.Header.Get("Cache-Control") != "no-store" || !strings.Contains(res.Header.Get("Content-Disposition"), "attachment") {
		t.Fatalf("helm download: %d %v", res.StatusCode, res.Header)
	}
	files := unzip(body)
	values, secretValues, report := files[k8sexport.ValuesFile], files[k8sexport.SecretsFile], files[k8sexport.ReportFile]
	if values == "" || secretValues == "" || report == "" {
		t.Fatalf("helm zip files: %v", keys(files))
	}
	for _, want := range []string{"selfHostedDomain: carto.example.com", "host: pg.internal", "proxy.internal", ".internal"} {
		if !strings.Contains(values, want) {
			t.Errorf("customizations.yaml lacks %q (the Advanced settings must carry over):\n%s", want, values)
		}
	}
	if !strings.Contains(secretValues, mapsKey) || !strings.Contains(secretValues, dbPassword) {
		t.Errorf("customizations.secrets.yaml lacks the Maps key or the database password:\n%s", secretValues)
	}
	if !strings.Contains(report, "SOME_SETTING") {
		t.Errorf("REPORT.md does not say what became of the free setting:\n%s", report)
	}
	for _, s := range secrets {
		if strings.Contains(values, s) || strings.Contains(report, s) {
			t.Errorf("a secret (%.6s…) is in customizations.yaml or REPORT.md", s)
		}
	}

	res, body = get("/finish/export/helm.zip?secret_refs=1")
	refs := unzip(body)
	if res.StatusCode != http.StatusOK || !strings.Contains(refs[k8sexport.ReportFile], "kubectl create secret") || len(refs) <= 3 {
		t.Errorf("helm download with Secret references: %d, files %v", res.StatusCode, keys(refs))
	}
	for _, s := range secrets {
		if strings.Contains(refs[k8sexport.SecretsFile], s) {
			t.Errorf("with Secret references, customizations.secrets.yaml holds a secret (%.6s…)", s)
		}
	}

	res, body = get("/finish/export/kots.yaml")
	if res.StatusCode != http.StatusOK || !strings.Contains(string(body), "kind: ConfigValues") || res.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("kots download: %d\n%s", res.StatusCode, body)
	}
	for _, s := range secrets {
		if strings.Contains(logOut.String(), s) {
			t.Errorf("a secret (%.6s…) reached the log:\n%s", s, &logOut)
		}
	}
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
