package server

import (
	"archive/zip"
	"bytes"
	"context"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"github.com/carto-setup/carto-setup/internal/check"
	"github.com/carto-setup/carto-setup/internal/dbcheck"
	"github.com/carto-setup/carto-setup/internal/demo/release"
	"github.com/carto-setup/carto-setup/internal/steps"
	"github.com/carto-setup/carto-setup/internal/wizard"
)

// postMultipart sends a multipart form with text fields and files.
func (f *fixture) postMultipart(t *testing.T, path string, fields map[string]string, files map[string][]byte) (*http.Response, *goquery.Document, string) {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for k, v := range fields {
		mw.WriteField(k, v)
	}
	for name, data := range files {
		fw, _ := mw.CreateFormFile(name, name+".upload")
		fw.Write(data)
	}
	mw.Close()
	req := httptest.NewRequest("POST", path, &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.AddCookie(f.cookie)
	res := f.do(t, req)
	doc, _ := goquery.NewDocumentFromReader(res.Body)
	html, _ := doc.Html()
	return res, doc, html
}

func markDone(f *fixture, steps ...wizard.Step) {
	f.deps.Store.Update(func(st *wizard.State) error {
		for _, s := range steps {
			st.MarkDone(s)
		}
		return nil
	})
}

func TestPackageStep(t *testing.T) {
	f := newFixture(t)
	dir := t.TempDir()
	f.setSteps(func(d *steps.Deps) { d.ReleaseDir = dir })
	if err := release.Write(dir, ""); err != nil {
		t.Fatal(err)
	}
	markDone(f, wizard.Preflight)

	// A zip with a path-traversal entry is refused with its own message.
	var zb bytes.Buffer
	zw := zip.NewWriter(&zb)
	w, _ := zw.Create("../customer.env")
	w.Write([]byte("X=1\n"))
	zw.Close()
	res, doc, _ := f.postMultipart(t, "/steps/package", map[string]string{"action": "upload"}, map[string][]byte{"zip": zb.Bytes()})
	if res.StatusCode != http.StatusUnprocessableEntity || strings.TrimSpace(doc.Find("#e-zip").Text()) == "" {
		t.Fatalf("hostile zip: %d, message %q", res.StatusCode, doc.Find("#e-zip").Text())
	}
	if st, _ := f.deps.Store.Load(); st.Package.CustomerEnv != "" {
		t.Fatal("a refused package was stored")
	}

	// The sample package is accepted; the page shows the summary but never
	// the private key.
	key, err := release.SampleKeyJSON()
	if err != nil {
		t.Fatal(err)
	}
	env := release.SampleCustomerEnv("carto.example.com")
	res, _, _ = f.postMultipart(t, "/steps/package", map[string]string{"action": "upload"}, map[string][]byte{"customer_env": env, "key_json": key})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("valid package: %d", res.StatusCode)
	}
	_, doc = f.get(t, "/steps/package")
	if got := doc.Find("#sum-tenant").Text(); got != release.SampleTenantID {
		t.Fatalf("tenant = %q", got)
	}
	html, _ := doc.Html()
	if strings.Contains(html, "PRIVATE KEY") || strings.Contains(html, "private_key") {
		t.Fatal("the page shows the private key")
	}
	res, _, _ = f.postMultipart(t, "/steps/package", map[string]string{"action": "next"}, nil)
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/steps/domain" {
		t.Fatalf("continue: %d to %s", res.StatusCode, res.Header.Get("Location"))
	}
	st, _ := f.deps.Store.Load()
	if st.Domain.Domain != "carto.example.com" {
		t.Fatalf("the package's domain was not suggested: %q", st.Domain.Domain)
	}
}

func TestDatabaseStep(t *testing.T) {
	f := newFixture(t)
	markDone(f, wizard.Preflight, wizard.Package, wizard.Domain)
	f.setSteps(func(d *steps.Deps) {
		d.Database = steps.DatabaseFunc(func(_ context.Context, db dbcheck.Config) []check.Result {
			if db.AdminPassword != "right" {
				return []check.Result{{Step: "database", ID: "database.auth", Status: check.Fail, Field: "admin_password", Message: "The server rejected the admin password."}}
			}
			return []check.Result{{Step: "database", ID: "database.auth", Status: check.Pass, Message: "Signed in as postgres."}}
		})
	})
	form := map[string]string{"db_mode": "external", "host": "db.internal", "port": "5432", "admin_user": "postgres", "admin_password": "wrong-secret-value",
		"admin_database": "postgres", "workspace_user": "workspace_admin", "workspace_password": "ws-secret-value", "workspace_database": "workspace",
		"ssl_mode": "require", "cache_mode": "embedded", "action": "test"}

	// A port out of range: 422 next to the port, nothing saved, no secret echoed.
	bad := map[string]string{}
	for k, v := range form {
		bad[k] = v
	}
	bad["port"] = "70000"
	res, doc, html := f.postMultipart(t, "/steps/database", bad, nil)
	if res.StatusCode != http.StatusUnprocessableEntity || doc.Find("#e-port").Length() != 1 {
		t.Fatalf("bad port: %d", res.StatusCode)
	}
	if strings.Contains(html, "wrong-secret-value") || strings.Contains(html, "ws-secret-value") {
		t.Fatal("a password was rendered back")
	}
	if v, _ := doc.Find("#f-host").Attr("value"); v != "db.internal" {
		t.Fatalf("typed host lost: %q", v)
	}
	if st, _ := f.deps.Store.Load(); st.Database.Host != "" {
		t.Fatal("invalid form saved")
	}

	// A 20 MB CA upload is refused with a message, not a crash.
	res, doc, _ = f.postMultipart(t, "/steps/database", form, map[string][]byte{"ca": bytes.Repeat([]byte("A"), 20<<20)})
	if res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(doc.Find("#e-ca").Text(), "too large") {
		t.Fatalf("huge CA: %d %q", res.StatusCode, doc.Find("#e-ca").Text())
	}

	// Test with the wrong password: the failure sits next to the password.
	res, doc, html = f.postMultipart(t, "/steps/database", form, nil)
	if res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(doc.Find("#e-admin_password").Text(), "rejected") {
		t.Fatalf("wrong password: %d %q", res.StatusCode, doc.Find("#e-admin_password").Text())
	}
	if strings.Contains(html, "wrong-secret-value") {
		t.Fatal("the password was rendered back")
	}

	// Fix it; a blank workspace password keeps the saved one.
	form["admin_password"], form["workspace_password"], form["action"] = "right", "", "next"
	res, _, _ = f.postMultipart(t, "/steps/database", form, nil)
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/steps/tls" {
		t.Fatalf("continue: %d to %s", res.StatusCode, res.Header.Get("Location"))
	}
	st, _ := f.deps.Store.Load()
	if st.Database.WorkspacePassword != "ws-secret-value" || st.Database.AdminPassword != "right" || !st.Done[wizard.Database] {
		t.Fatalf("saved state wrong: %+v", st.Database)
	}
}

func TestTLSStepSelfSignedAndBadUpload(t *testing.T) {
	f := newFixture(t)
	markDone(f, wizard.Preflight, wizard.Package, wizard.Domain, wizard.Database)
	f.deps.Store.Update(func(st *wizard.State) error { st.Domain.Domain = "carto.example.com"; return nil })

	res, doc, _ := f.postMultipart(t, "/steps/tls", map[string]string{"tls_mode": "upload"}, map[string][]byte{"cert": []byte("not a certificate"), "key": []byte("nor a key")})
	if res.StatusCode != http.StatusUnprocessableEntity || strings.TrimSpace(doc.Find("#e-cert").Text()) == "" {
		t.Fatalf("junk upload: %d %q", res.StatusCode, doc.Find("#e-cert").Text())
	}
	res, _, _ = f.postMultipart(t, "/steps/tls", map[string]string{"tls_mode": "self-signed"}, nil)
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/steps/buckets" {
		t.Fatalf("self-signed: %d to %s", res.StatusCode, res.Header.Get("Location"))
	}
	st, _ := f.deps.Store.Load()
	if !strings.Contains(st.TLS.CertPEM, "BEGIN CERTIFICATE") || st.TLS.Fingerprint == "" {
		t.Fatal("no certificate saved")
	}
	_, doc = f.get(t, "/steps/tls")
	html, _ := doc.Html()
	if strings.Contains(html, "PRIVATE KEY") || doc.Find("#fingerprint").Text() != st.TLS.Fingerprint {
		t.Fatal("key shown or fingerprint missing")
	}
	res, _ = f.get(t, "/steps/tls/certificate.crt")
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "application/x-pem-file" {
		t.Fatalf("download: %d", res.StatusCode)
	}
}
