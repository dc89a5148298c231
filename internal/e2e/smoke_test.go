package e2e

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/carto-setup/carto-setup/internal/buckets/s3test"
	"github.com/carto-setup/carto-setup/internal/envfile"
	"github.com/carto-setup/carto-setup/internal/selfsigned"
	"github.com/carto-setup/carto-setup/internal/wizard"
)

// smokeRow is one check on the smoke-test page.
type smokeRow struct {
	Status string
	Text   string
}

// runSmoke starts the smoke test from its page, waits for the job to end
// (the page refreshes itself) and returns the job's status and the checks.
func runSmoke(t *testing.T, ctx context.Context, a *App) (string, map[string]smokeRow) {
	t.Helper()
	Navigate(t, ctx, a.BaseURL+"/steps/smoke")
	Submit(t, ctx, `button[value="run"]`)
	WaitJS(t, ctx, "the smoke test to finish", `(function(){ var j = document.getElementById("smoke-job"); return j && j.dataset.status && j.dataset.status !== "running" && document.readyState === "complete" })()`, 4*time.Minute)
	status := Get(t, ctx, "smoke status", chromedp.Evaluate[string](`document.getElementById("smoke-job").dataset.status`))
	raw := Get(t, ctx, "smoke results", chromedp.Evaluate[map[string]string](`Object.fromEntries(Array.from(document.querySelectorAll("#check-results tr[data-check]")).map(function(r){ return [r.dataset.check, r.dataset.status + "\t" + r.textContent] }))`))
	rows := map[string]smokeRow{}
	for id, v := range raw {
		st, text, _ := strings.Cut(v, "\t")
		rows[id] = smokeRow{Status: st, Text: text}
	}
	return status, rows
}

// composeContainer returns the ID of a service's container.
func (f *installFixture) composeContainer(t *testing.T, service string) string {
	t.Helper()
	out, err := exec.Command("docker", "ps", "-aq", "--filter", "label=com.docker.compose.project="+f.project,
		"--filter", "label=com.docker.compose.service="+service).Output()
	id := strings.TrimSpace(string(out))
	if err != nil || id == "" || strings.Contains(id, "\n") {
		t.Fatalf("container of %s: %q %v", service, id, err)
	}
	return id
}

func docker(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("docker", args...).CombinedOutput(); err != nil {
		t.Fatalf("docker %v: %v\n%s", args, err, out)
	}
}

// routerPorts reads the router's published ports from the written .env.
func (f *installFixture) routerPorts(t *testing.T) (int, int) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(f.release, ".env"))
	if err != nil {
		t.Fatal(err)
	}
	env, err := envfile.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	port := func(k string) int {
		v, _ := env.Get(k)
		n, err := strconv.Atoi(v)
		if err != nil {
			t.Fatalf("%s=%q in .env", k, v)
		}
		return n
	}
	return port("ROUTER_HTTP_PORT"), port("ROUTER_HTTPS_PORT")
}

// waitForCertificate waits until the router presents the certificate whose
// fingerprint is fp.
func waitForCertificate(t *testing.T, httpsPort int, fp string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 2 * time.Second}, "tcp", "127.0.0.1:"+strconv.Itoa(httpsPort), &tls.Config{ServerName: e2eDomain, InsecureSkipVerify: true})
		if err == nil {
			got := selfsigned.Fingerprint(conn.ConnectionState().PeerCertificates[0].Raw)
			conn.Close()
			if got == fp {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the router did not present %s within 60s (last error %v)", fp, err)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// plantInLogs requests a path made of each secret through the router, which
// logs the path: the secrets now appear in router-http's and
// workspace-www's container logs.
func plantInLogs(t *testing.T, httpsPort int, secrets ...string) {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{ServerName: e2eDomain, InsecureSkipVerify: true}}}
	for _, s := range secrets {
		req, _ := http.NewRequest("GET", "https://127.0.0.1:"+strconv.Itoa(httpsPort)+"/"+s, nil)
		req.Host = e2eDomain
		res, err := c.Do(req)
		if err != nil {
			t.Fatalf("plant a secret in the router's log: %v", err)
		}
		res.Body.Close()
	}
}

// wizardClient signs in with the console URL and returns an HTTP client
// with the session, for downloads.
func wizardClient(t *testing.T, a *App) *http.Client {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 2 * time.Minute, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	res, err := c.Get(a.SignInURL)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.Request.URL.Path == "/signin" {
		t.Fatal("the console sign-in URL did not sign the client in")
	}
	return c
}

// untar returns the files of a .tar.gz by their name under its directory.
func untar(t *testing.T, data []byte) map[string]string {
	t.Helper()
	gz, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("the bundle is not gzip: %v", err)
	}
	tr := tar.NewReader(gz)
	files := map[string]string{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		_, name, _ := strings.Cut(h.Name, "/")
		files[name] = string(b)
	}
}

// secretLines returns the lines of a multi-line secret worth grepping for.
func secretLines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); len(l) >= 16 && !strings.HasPrefix(l, "-----") {
			out = append(out, l)
		}
	}
	return out
}

// TestSmokeTestBundleAndLock installs the stand-in release with real
// containers and a real PostgreSQL, then: the smoke test passes; a stopped
// service, a router serving a different certificate and a bucket without
// its CORS rule each fail their own check with a specific message; the
// manual checklist ticks are saved; the support bundle, with every known
// secret planted (also in a container log), contains none of them and its
// redaction report counts each; and locking the wizard closes it.
func TestSmokeTestBundleAndLock(t *testing.T) {
	f := newInstallFixture(t)
	a := f.app
	ctx := Browser(t, true)
	f.walkToReview(t, ctx, f.pg.Password)
	Submit(t, ctx, `button[value="install"]`)
	if status, _ := watchInstall(t, ctx); status != "succeeded" {
		t.Fatalf("install %s: %s", status, pageText(ctx))
	}
	Run(t, ctx, "continue to the smoke test", chromedp.Click(chromedp.CSS(`a[href="/steps/smoke"]`)), chromedp.WaitVisible(chromedp.CSS("h1")))

	// A healthy install passes.
	status, rows := runSmoke(t, ctx, a)
	if status != "succeeded" {
		t.Fatalf("smoke test on a healthy install: %s; checks: %v", status, rows)
	}
	for _, id := range []string{"smoke.service.router-http", "smoke.service.workspace-migrations", "smoke.service.workspace-api",
		"smoke.tls.certificate", "smoke.tls.chain", "smoke.http.redirect", "smoke.router.workspace", "smoke.router.accounts",
		"smoke.health.workspace-api", "smoke.health.maps-api", "smoke.database.auth"} {
		if rows[id].Status != "pass" {
			t.Errorf("%s on a healthy install: %+v", id, rows[id])
		}
	}
	for id, r := range rows {
		if r.Status == "fail" || r.Status == "error" {
			t.Errorf("%s on a healthy install: %+v", id, r)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	st, err := wizard.NewFileStore(filepath.Join(a.StateDir, "state.json"), time.Now).Load()
	if err != nil || !st.Done[wizard.Smoke] {
		t.Fatalf("the passing smoke test did not mark its step done: %v", err)
	}
	if hist, _ := filepath.Glob(filepath.Join(a.StateDir, "history", "smoke-*.json")); len(hist) != 1 {
		t.Errorf("smoke history files: %v", hist)
	}

	// The manual checklist keeps its ticks.
	SetChecked(t, ctx, "item.signin", true)
	SetChecked(t, ctx, "item.connection", true)
	Submit(t, ctx, `button[value="checklist"]`)
	Navigate(t, ctx, a.BaseURL+"/steps/smoke")
	if n := Get(t, ctx, "ticks", chromedp.Evaluate[int](`document.querySelectorAll('ul.checklist input:checked').length`)); n != 2 {
		t.Errorf("%d ticks after saving two", n)
	}

	httpPort, httpsPort := f.routerPorts(t)
	if httpPort == 80 || httpsPort == 443 {
		t.Fatal("the fixture's router ports were not taken from .env")
	}

	// A stopped service.
	api := f.composeContainer(t, "workspace-api")
	docker(t, "stop", "-t", "2", api)
	status, rows = runSmoke(t, ctx, a)
	if r := rows["smoke.service.workspace-api"]; status != "failed" || r.Status != "fail" || !strings.Contains(r.Text, "workspace-api is exited") {
		t.Errorf("with workspace-api stopped: job %s, check %+v", status, r)
	}
	if r := rows["smoke.service.maps-api"]; r.Status != "pass" {
		t.Errorf("maps-api with workspace-api stopped: %+v", r)
	}
	docker(t, "start", api)

	// A router serving a different certificate.
	certPath, keyPath := filepath.Join(f.release, "certs", "carto-router.crt"), filepath.Join(f.release, "certs", "carto-router.key")
	origCert, _ := os.ReadFile(certPath)
	origKey, _ := os.ReadFile(keyPath)
	otherCert, otherKey, err := selfsigned.Generate(selfsigned.Request{CommonName: e2eDomain, DNSNames: []string{e2eDomain}, NotBefore: time.Now().Add(-time.Hour), Validity: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	otherFP := fingerprintPEM(t, otherCert)
	os.WriteFile(certPath, otherCert, 0o600)
	os.WriteFile(keyPath, otherKey, 0o600)
	router := f.composeContainer(t, "router-http")
	docker(t, "restart", "-t", "2", router)
	waitForCertificate(t, httpsPort, otherFP)
	// What is installed is the original again; the router still serves
	// the other one. (A certificate replaced in certs/ and loaded is what
	// is installed: the smoke test compares with certs/, not the state.)
	os.WriteFile(certPath, origCert, 0o600)
	os.WriteFile(keyPath, origKey, 0o600)
	status, rows = runSmoke(t, ctx, a)
	if r := rows["smoke.tls.certificate"]; status != "failed" || r.Status != "fail" || !strings.Contains(r.Text, "different certificate") || !strings.Contains(r.Text, otherFP) {
		t.Errorf("with another certificate on the router: job %s, check %+v", status, r)
	}
	if r := rows["smoke.service.workspace-api"]; r.Status != "pass" {
		t.Errorf("workspace-api after its restart: %+v", r)
	}
	docker(t, "restart", "-t", "2", router)
	waitForCertificate(t, httpsPort, st.TLS.Fingerprint)

	// Buckets of one's own, one without its CORS rule. The buckets are set
	// in the state directly (the install itself used CARTO's): the smoke
	// test re-runs the bucket check from the VM with what the state holds.
	s3 := s3test.Start(t, s3test.Options{Buckets: []string{"e2e-imports", "e2e-thumbnails"}})
	s3.SetCORS("e2e-thumbnails", s3test.CORSConfiguration{Rules: []s3test.CORSRule{{
		AllowedOrigins: []string{"*"}, AllowedMethods: []string{"GET", "PUT", "POST"},
		AllowedHeaders: []string{"Content-Type", "Content-MD5", "Content-Disposition", "Cache-Control"}, MaxAgeSeconds: 3600,
	}}})
	const cachePassword = "e2e-Cache-Secret-42"
	store := wizard.NewFileStore(filepath.Join(a.StateDir, "state.json"), time.Now)
	if _, err := store.Update(func(st *wizard.State) error {
		st.Buckets = wizard.BucketsInput{Mode: wizard.BucketsS3,
			Imports: wizard.BucketInput{Name: "e2e-imports"}, Thumbnails: wizard.BucketInput{Name: "e2e-thumbnails"},
			S3Region: s3.Credentials.Region, S3AccessKeyID: s3.Credentials.AccessKeyID, S3SecretAccessKey: s3.Credentials.SecretAccessKey, S3Endpoint: s3.URL}
		// The embedded cache takes no password; one is planted so that the
		// bundle has to mask it.
		st.Cache.Password = cachePassword
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	status, rows = runSmoke(t, ctx, a)
	if r := rows["smoke.buckets.imports.cors"]; status != "failed" || r.Status != "fail" || !strings.Contains(r.Text, "no CORS rules") {
		t.Errorf("imports bucket without CORS: job %s, check %+v", status, r)
	}
	if r := rows["smoke.buckets.thumbnails.cors"]; r.Status != "pass" {
		t.Errorf("thumbnails bucket with CORS: %+v", r)
	}
	if r := rows["smoke.tls.certificate"]; r.Status != "pass" {
		t.Errorf("the original certificate back on the router: %+v", r)
	}

	// The support bundle: plant the passwords in a container log, then
	// grep the extracted bundle for every known secret.
	plantInLogs(t, httpsPort, f.pg.Password, cachePassword, "e2e-workspace-Secret-1")
	c := wizardClient(t, a)
	res, err := c.Get(a.BaseURL + "/bundle")
	if err != nil {
		t.Fatal(err)
	}
	preview, _ := io.ReadAll(res.Body)
	res.Body.Close()
	for _, name := range []string{"manifest.json", "redactions.json", "wizard-state.json", "release/customer.env", "release/.env", "docker/version.json", "docker/info.json", "docker/compose-status.json", "checks.json"} {
		if !strings.Contains(string(preview), `data-file="`+name+`"`) {
			t.Errorf("the preview does not list %s", name)
		}
	}
	res, err = c.Get(a.BaseURL + "/bundle/download")
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "application/gzip" {
		t.Fatalf("download: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	files := untar(t, data)

	st, _ = store.Load()
	keyJSON, _ := os.ReadFile(filepath.Join(f.pkgDir, "key.json"))
	var key struct {
		PrivateKey string `json:"private_key"`
	}
	json.Unmarshal(keyJSON, &key)
	secrets := map[string]string{
		"database admin password":     f.pg.Password,
		"database workspace password": "e2e-workspace-Secret-1",
		"cache password":              cachePassword,
		"S3 secret access key":        s3.Credentials.SecretAccessKey,
	}
	for i, l := range secretLines(key.PrivateKey) {
		secrets[fmt.Sprintf("key.json private key line %d", i)] = l
	}
	for i, l := range secretLines(st.TLS.KeyPEM) {
		secrets[fmt.Sprintf("router key line %d", i)] = l
	}
	pkgEnv, _ := os.ReadFile(filepath.Join(f.pkgDir, "customer.env"))
	for _, line := range strings.Split(string(pkgEnv), "\n") {
		k, v, ok := strings.Cut(line, "=")
		if v = strings.Trim(v, `'"`); ok && !strings.HasPrefix(k, "#") && (strings.Contains(k, "SECRET") || strings.Contains(k, "PASSWORD") || strings.Contains(k, "KEY")) && len(v) >= 8 && !strings.HasPrefix(v, "/") {
			secrets["customer.env "+k] = v
		}
	}
	logFiles := 0
	for name, body := range files {
		if strings.HasPrefix(name, "logs/") {
			logFiles++
		}
		if strings.Contains(body, "PRIVATE KEY") {
			t.Errorf("%s contains a private key", name)
		}
		for what, s := range secrets {
			if strings.Contains(body, s) {
				t.Errorf("%s contains the %s", name, what)
			}
		}
	}
	if logFiles < 10 {
		t.Errorf("the bundle has the logs of %d containers", logFiles)
	}
	var report struct {
		Redactions []struct {
			File, What string
			Count      int
		} `json:"redactions"`
	}
	if err := json.Unmarshal([]byte(files["redactions.json"]), &report); err != nil {
		t.Fatalf("redactions.json: %v", err)
	}
	counted := map[string]int{}
	inLogs := map[string]int{}
	for _, r := range report.Redactions {
		counted[r.What] += r.Count
		if strings.HasPrefix(r.File, "logs/") {
			inLogs[r.What] += r.Count
		}
	}
	for _, what := range []string{"database admin password", "database workspace password", "cache password", "S3 secret access key", "router certificate private key"} {
		if counted[what] == 0 {
			t.Errorf("the redaction report does not count the %s: %v", what, counted)
		}
	}
	if counted["key.json"]+counted["key.json private key"] == 0 {
		t.Errorf("the redaction report does not count key.json's private key: %v", counted)
	}
	for _, what := range []string{"database admin password", "cache password", "database workspace password"} {
		if inLogs[what] == 0 {
			t.Errorf("the %s planted in a container log is not counted in logs/: %v", what, inLogs)
		}
	}
	if strings.Contains(files["redactions.json"], f.pg.Password) {
		t.Error("the report holds a value")
	}

	// Continue past the bucket failure with a reason, and lock the wizard.
	Navigate(t, ctx, a.BaseURL+"/steps/smoke")
	FillOverrides(t, ctx, "e2e: buckets checked separately")
	Submit(t, ctx, `button[value="next"]`)
	if !strings.HasSuffix(Location(t, ctx), "/finish") {
		t.Fatalf("after the smoke test the wizard is at %s: %s", Location(t, ctx), pageText(ctx))
	}
	if n := Get(t, ctx, "summary ticks", chromedp.Evaluate[int](`document.querySelectorAll('#finish-checklist li[data-done="true"]').length`)); n != 2 {
		t.Errorf("the summary shows %d ticked items, want 2", n)
	}
	Fill(t, ctx, "confirm", "lock")
	Submit(t, ctx, `button[value="lock"]`)
	if Text(t, ctx, "h1") != "The wizard is locked" {
		t.Fatalf("after locking: %s", pageText(ctx))
	}
	Navigate(t, ctx, a.BaseURL+"/steps/review")
	if loc := Location(t, ctx); !strings.HasSuffix(loc, "/signin") {
		t.Errorf("a step page after the lock: %s", loc)
	}
	res, err = c.Get(a.BaseURL + "/steps/preflight")
	if err == nil {
		res.Body.Close()
		if res.Request.URL.Path != "/signin" {
			t.Errorf("the other session still opens steps after the lock: %s", res.Request.URL)
		}
	}
	Navigate(t, ctx, a.SignInURL)
	if loc := Location(t, ctx); !strings.Contains(loc, "/signin") {
		t.Errorf("the old sign-in URL works after the lock: %s", loc)
	}
}

func fingerprintPEM(t *testing.T, certPEM []byte) string {
	t.Helper()
	b, _ := pem.Decode(certPEM)
	if b == nil {
		t.Fatal("no certificate in PEM")
	}
	return selfsigned.Fingerprint(b.Bytes)
}
