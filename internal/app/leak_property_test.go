package app_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"io/fs"
	"math/rand/v2"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	xhtml "golang.org/x/net/html"

	"github.com/carto-setup/carto-setup/internal/answers"
	"github.com/carto-setup/carto-setup/internal/auth"
	"github.com/carto-setup/carto-setup/internal/buckets"
	"github.com/carto-setup/carto-setup/internal/bundle"
	"github.com/carto-setup/carto-setup/internal/cachecheck"
	"github.com/carto-setup/carto-setup/internal/certcheck"
	"github.com/carto-setup/carto-setup/internal/check"
	"github.com/carto-setup/carto-setup/internal/dbcheck"
	"github.com/carto-setup/carto-setup/internal/demo/release"
	"github.com/carto-setup/carto-setup/internal/deploy"
	"github.com/carto-setup/carto-setup/internal/e2e"
	"github.com/carto-setup/carto-setup/internal/envfile"
	"github.com/carto-setup/carto-setup/internal/jobs"
	"github.com/carto-setup/carto-setup/internal/preflight"
	"github.com/carto-setup/carto-setup/internal/redact"
	"github.com/carto-setup/carto-setup/internal/redact/redacttest"
	"github.com/carto-setup/carto-setup/internal/server"
	"github.com/carto-setup/carto-setup/internal/steps"
	"github.com/carto-setup/carto-setup/internal/testenv"
	"github.com/carto-setup/carto-setup/internal/wizard"
)

// leakCases is how many random states TestPropertyNoSecretInAnyOutput
// walks; each one runs an install job, real database and bucket checks, a
// support bundle and an export. CARTO_SETUP_LEAK_SEED replays one seed.
const leakCases = 20

// storedWithSecrets are the files of the state directory that hold
// secrets on purpose (owner-only): everything else carto-setup stores there
// (job records, history, the install lock's holder, the on-disk log store
// of the logs issue once it lands) must show none.
func storedWithSecrets(rel string) bool {
	switch {
	case rel == "state.json", rel == auth.TokenFile, rel == "auth.json",
		strings.HasPrefix(rel, answers.SecretsDir+"/"),
		strings.HasPrefix(rel, ".state.json.tmp-"), strings.HasPrefix(rel, "state.json.bak"), strings.HasPrefix(rel, "backups/"):
		return true
	}
	return false
}

// TestPropertyNoSecretInAnyOutput fills every field of the wizard's secret
// registry with random hostile values (redacttest: /, ./ and ../ prefixes,
// values under 4 bytes, quotes, $, backslashes, regular-expression
// metacharacters, non-ASCII, PEM keys and key.json) and runs them through
// every output the wizard has, the way an admin reaches them: the pages
// (every step, the review and its diff, the job page and its poll, the
// smoke and finish pages, the bundle preview, pages re-rendered after a
// refused form and after real database and bucket checks that fail), the
// websocket stream of the install job (whose own output carries every
// secret, split across writes, and whose error names one), the stored job
// records and whatever else is stored in the state directory, the support
// bundle (every file, the manifest and the redaction report included), the
// answers export and the console. No secret may show in any of them.
func TestPropertyNoSecretInAnyOutput(t *testing.T) {
	e2e.NeedDocker(t)
	seed := rand.Uint64()
	if s := os.Getenv("CARTO_SETUP_LEAK_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	g := redacttest.New(seed)
	channels := map[string]int{}
	for c := range leakCases {
		n := leakCase(t, g, fmt.Sprintf("seed %d case %d", seed, c))
		for k, v := range n {
			channels[k] += v
		}
		if t.Failed() {
			return
		}
	}
	t.Logf("seed %d: %d cases, outputs checked per channel: %v", seed, leakCases, channels)
	for _, ch := range []string{"page", "stream", "job page", "stored", "bundle", "answers export", "console"} {
		if channels[ch] == 0 {
			t.Errorf("the %s channel was never checked", ch)
		}
	}
}

// leakCase runs one random state through every channel and returns how many
// outputs of each channel it checked.
func leakCase(t *testing.T, g *redacttest.Gen, name string) map[string]int {
	ctx := t.Context()
	checked := map[string]int{}
	relDir, stateDir := t.TempDir(), t.TempDir()
	if err := release.Write(relDir, ""); err != nil {
		t.Fatal(err)
	}
	const domain = "carto.leak.test"
	certPEM, _, fp, err := certcheck.SelfSigned(domain, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	closed := testenv.ClosedPort(t)
	st := wizard.State{
		Package: wizard.PackageInput{CustomerEnv: string(release.SampleCustomerEnv(domain))},
		Domain:  wizard.DomainInput{Domain: domain},
		Database: wizard.DatabaseInput{Mode: wizard.ModeExternal, Host: "127.0.0.1", Port: closed, AdminUser: "postgres", AdminDatabase: "postgres",
			WorkspaceUser: "workspace_admin", WorkspaceDatabase: "workspace", SSLMode: "disable"},
		Cache:   wizard.CacheInput{Mode: wizard.ModeExternal, Host: "127.0.0.1", Port: closed},
		TLS:     wizard.TLSInput{Mode: wizard.TLSSelfSigned, CertPEM: string(certPEM), Fingerprint: fp},
		Buckets: wizard.BucketsInput{Mode: wizard.BucketsS3, Imports: wizard.BucketInput{Name: "imports"}, Thumbnails: wizard.BucketInput{Name: "thumbs"}, S3Region: "eu-west-1", S3AccessKeyID: "AKIALEAKTEST", S3Endpoint: "http://127.0.0.1:" + strconv.Itoa(closed)},
		Advanced: wizard.AdvancedInput{Extra: []wizard.AdvancedVar{
			{Key: "LEAK_TEST_SECRET", Secret: true}, {Key: "LEAK_TEST_PLAIN", Value: "plain-value"}}},
	}
	for _, s := range wizard.Steps {
		st.MarkDone(s)
	}
	g.FillState(&st)
	// A value customer.env cannot carry is refused by the steps'
	// validation and never reaches an install: draw another.
	var secrets []string
	for _, f := range st.SecretFields() {
		for !strings.Contains(*f.Value, "\n") && !quotable(*f.Value) {
			*f.Value = g.Password()
		}
		secrets = append(secrets, *f.Value)
	}
	for _, s := range redact.EnvSecrets([]byte(st.Package.CustomerEnv)) {
		secrets = append(secrets, s.Value) // the licence's own secrets
	}
	store := wizard.NewFileStore(filepath.Join(stateDir, "state.json"), time.Now)
	if _, err := store.Update(func(s *wizard.State) error { *s = st; return nil }); err != nil {
		t.Fatal(err)
	}
	plan, err := deploy.NewPlan(st, relDir)
	if err != nil {
		t.Fatalf("%s: plan: %v", name, err)
	}
	if err := deploy.ApplyWith(plan, deploy.ApplyOptions{Now: time.Now()}); err != nil { // the release's customer.env and .env, for the bundle
		t.Fatal(err)
	}

	// The wizard, wired as serve wires it, its console masked.
	var console testenv.Buffer
	current := steps.NewStateSecrets()
	current.Watch(filepath.Join(stateDir, "state.json"))
	log := redact.NewLogger(&console, nil, current.Current)
	runner, err := jobs.NewRunner(ctx, filepath.Join(stateDir, "jobs"), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	// The install's own output carries every secret, cut into random
	// writes, and its error names one, as a failed pull or a Compose
	// error quoting customer.env would.
	var carried []string
	for _, s := range secrets {
		carried = append(carried, g.SomeCarriers(s, 3)...)
	}
	failWith := carried[g.Intn(len(carried))]
	ensureImages := func(_ context.Context, _ deploy.Plan, progress io.Writer) error {
		all := strings.Join(carried, "\n") + "\n"
		for i := 0; i < len(all); {
			n := 1 + g.Intn(60)
			progress.Write([]byte(all[i:min(i+n, len(all))]))
			i += n
		}
		return fmt.Errorf("pull denied for %s", failWith)
	}
	project := "leak" + strconv.Itoa(closed)
	sd := steps.Deps{
		ReleaseDir: relDir, Now: time.Now, Log: log,
		Preflight: steps.PreflightFunc(func(context.Context, preflight.Config) []check.Result { return nil }),
		Database:  steps.DatabaseFunc(dbcheck.Run), Cache: steps.CacheFunc(cachecheck.Run), Buckets: steps.BucketsFunc(buckets.Run),
	}
	s := steps.New(sd, store)
	smoker := steps.NewSmoker(steps.SmokeConfig{Log: log, Runner: runner, Steps: s, ReleaseDir: relDir, StateDir: stateDir, Project: project, Version: "test"})
	a, tok, err := auth.Open(stateDir, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	cookie, err := a.SignIn(tok)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(server.NewHandler(server.Deps{
		Log: log, Auth: a, Throttle: a.NewThrottle(), Store: store, Now: time.Now, HostNames: []string{"127.0.0.1"}, SelfSigned: true, Steps: s,
		Installer: steps.NewInstaller(steps.InstallConfig{Log: log, Runner: runner, Store: store, ReleaseDir: relDir, StateDir: stateDir,
			Project: project, Now: time.Now, Images: &steps.ImagesConfig{Prepare: func(ctx context.Context, plan deploy.Plan, _ []string, progress io.Writer) error {
				return ensureImages(ctx, plan, progress)
			}}}),
		Smoke: smoker, Bundle: smoker,
	}))
	defer srv.Close()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }, Timeout: time.Minute}
	do := func(method, path string, form url.Values) (int, string, []byte) {
		t.Helper()
		if form == nil {
			return send(t, client, method, srv.URL+path, cookie, "", nil)
		}
		return send(t, client, method, srv.URL+path, cookie, "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
	}
	leak := func(channel, where string, text string) {
		t.Helper()
		checked[channel]++
		if strs, ok := jsonStrings(text); ok {
			text = strs
		}
		if shown := redacttest.Shown(text, secrets); shown != nil {
			t.Errorf("%s: the %s (%s) shows %q:\n%.3000s", name, channel, where, shown, text)
		}
	}
	page := func(where string, body []byte) {
		t.Helper()
		checked["page"]++
		for _, part := range htmlParts(body) {
			if shown := redacttest.Shown(part, secrets); shown != nil {
				t.Errorf("%s: the page %s shows %q in %q", name, where, shown, part)
			}
		}
	}

	// The install job: started from the review, followed on the
	// websocket until it ends.
	code, loc, body := do("POST", "/steps/review", url.Values{"action": {"install"}})
	if code != http.StatusSeeOther || !strings.HasPrefix(loc, "/jobs/") {
		t.Fatalf("%s: install: %d to %q:\n%s", name, code, loc, body)
	}
	id := strings.TrimPrefix(loc, "/jobs/")
	leak("stream", "websocket", streamText(t, srv.URL, id, cookie))
	testenv.WaitFor(t, "the install job to end", time.Minute, func() bool { rec, _ := runner.Get(id); return rec.Done() })
	if rec, _ := runner.Get(id); !strings.Contains(rec.Error, "ull denied") {
		t.Fatalf("%s: the job did not fail in the images hook: %q", name, rec.Error)
	}
	_, _, body = do("GET", "/jobs/"+id, nil)
	page("/jobs/"+id, body)
	checked["job page"]++
	_, _, body = do("GET", "/jobs/"+id+"/poll", nil)
	leak("job page", "poll", string(body))

	// Every page, and the pages re-rendered after a refused form and
	// after live checks that fail against closed ports.
	for _, path := range []string{"/", "/steps/preflight", "/steps/package", "/steps/domain", "/steps/database", "/steps/tls",
		"/steps/buckets", "/steps/review", "/steps/smoke", "/bundle", "/finish"} {
		code, _, body := do("GET", path, nil)
		if code >= 500 {
			t.Errorf("%s: GET %s: %d", name, path, code)
		}
		page(path, body)
	}
	dbForm := url.Values{"db_mode": {"external"}, "host": {"127.0.0.1"}, "port": {strconv.Itoa(closed)}, "admin_user": {"postgres"},
		"admin_password": {st.Database.AdminPassword}, "workspace_password": {st.Database.WorkspacePassword}, "admin_database": {"postgres"},
		"workspace_user": {"workspace_admin"}, "workspace_database": {"workspace"}, "cache_mode": {"external"}, "cache_host": {"127.0.0.1"},
		"cache_port": {strconv.Itoa(closed)}, "cache_password": {st.Cache.Password}, "action": {"test"}}
	_, _, body = doMultipart(t, client, srv.URL+"/steps/database", cookie, dbForm)
	page("POST /steps/database (checks)", body)
	dbForm.Set("port", "70000")
	_, _, body = doMultipart(t, client, srv.URL+"/steps/database", cookie, dbForm)
	page("POST /steps/database (refused)", body)
	bForm := url.Values{"buckets_mode": {"s3"}, "imports_bucket": {"imports"}, "thumbnails_bucket": {"thumbs"}, "s3_region": {"eu-west-1"},
		"s3_access_key_id": {"AKIALEAKTEST"}, "s3_secret": {st.Buckets.S3SecretAccessKey}, "s3_endpoint": {"http://127.0.0.1:" + strconv.Itoa(closed)},
		"action": {"test"}}
	_, _, body = doMultipart(t, client, srv.URL+"/steps/buckets", cookie, bForm)
	page("POST /steps/buckets (checks)", body)

	// The support bundle, every file of it.
	code, _, body = do("GET", "/bundle/download", nil)
	if code != http.StatusOK {
		t.Fatalf("%s: bundle: %d", name, code)
	}
	files := untar(t, body)
	own := 0
	for file, text := range files {
		base := filepath.Base(file)
		if base == bundle.ManifestFile || base == bundle.RedactionFile {
			own++
			text = ownBundleText(t, &st, files, filepath.Dir(file)+"/", base)
		}
		leak("bundle", file, text)
	}
	if own != 2 {
		t.Fatalf("%s: %d of the manifest and redaction report in the bundle of %d files", name, own, len(files))
	}

	// The answers export.
	cur, err := store.Load()
	if err != nil {
		t.Fatal(err)
	}
	exported, err := answers.Export(cur, stateDir)
	if err != nil {
		t.Fatalf("%s: answers export: %v", name, err)
	}
	leak("answers export", "YAML", string(exported))

	// The console: what the run logged, and a component that logs an
	// error quoting a secret.
	log.Warn("database check failed", "err", errors.New("password authentication failed: "+carried[g.Intn(len(carried))]))
	leak("console", "log", console.String())

	// Everything stored in the state directory but the secret stores.
	filepath.WalkDir(stateDir, func(path string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(stateDir, path)
		if storedWithSecrets(rel) {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		leak("stored", rel, string(b))
		return nil
	})
	return checked
}

// quotable reports whether customer.env can carry v.
func quotable(v string) bool {
	_, err := envfile.Quote(v)
	return err == nil
}

// htmlParts returns the text nodes and attribute values of a page,
// unescaped: where a secret would show. Markup itself (`</a>`) is left
// out, so a two-byte secret such as "/a" is not found in every link.
func htmlParts(page []byte) []string {
	var parts []string
	z := xhtml.NewTokenizer(bytes.NewReader(page))
	for {
		switch z.Next() {
		case xhtml.ErrorToken:
			return parts
		case xhtml.TextToken:
			parts = append(parts, html.UnescapeString(string(z.Text())))
		case xhtml.StartTagToken, xhtml.SelfClosingTagToken:
			for _, a := range z.Token().Attr {
				parts = append(parts, a.Val)
			}
		}
	}
}

// streamText reads a job's websocket until the server closes it (the job
// ended) and returns every message.
// jsonStrings returns every string (keys and values) of the JSON objects
// and arrays text holds (one, or a stream of them), a line each: what a
// reader of those messages sees, judged by the masker's standard. The JSON
// text itself is not searched, since a short secret's last byte can meet
// the encoder's own quote there (the value "…/0" ends in `0"`). ok is
// false for any other text.
func jsonStrings(text string) (_ string, ok bool) {
	if t := strings.TrimSpace(text); t == "" || t[0] != '{' && t[0] != '[' {
		return "", false
	}
	var out strings.Builder
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case string:
			out.WriteString(v)
			out.WriteByte('\n')
		case []any:
			for _, e := range v {
				walk(e)
			}
		case map[string]any:
			for k, e := range v {
				walk(k)
				walk(e)
			}
		}
	}
	dec := json.NewDecoder(strings.NewReader(text))
	for {
		var v any
		if err := dec.Decode(&v); err == io.EOF {
			break
		} else if err != nil {
			return "", false
		}
		walk(v)
	}
	return out.String(), true
}

func streamText(t *testing.T, base, id, cookie string) string {
	t.Helper()
	u := "ws" + strings.TrimPrefix(base, "http") + "/jobs/" + id + "/logs"
	h := http.Header{"Cookie": {server.SessionCookie + "=" + cookie}, "Origin": {base}}
	conn, res, err := websocket.DefaultDialer.Dial(u, h)
	if err != nil {
		status := 0
		if res != nil {
			status = res.StatusCode
		}
		t.Fatalf("websocket: %v (%d)", err, status)
	}
	defer conn.Close()
	conn.SetReadDeadline(time.Now().Add(2 * time.Minute))
	var all strings.Builder
	lines := 0
	for {
		_, msg, err := conn.ReadMessage()
		if err != nil {
			break
		}
		var m struct{ Lines []struct{ Text string } }
		json.Unmarshal(msg, &m)
		lines += len(m.Lines)
		all.Write(msg)
		all.WriteByte('\n')
	}
	if lines == 0 {
		t.Fatalf("the websocket carried no log line:\n%s", &all)
	}
	return all.String()
}

// doMultipart posts a form as the step pages do (multipart, for uploads).
func doMultipart(t *testing.T, client *http.Client, u, cookie string, form url.Values) (int, string, []byte) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for k, vs := range form {
		for _, v := range vs {
			mw.WriteField(k, v)
		}
	}
	mw.Close()
	return send(t, client, "POST", u, cookie, mw.FormDataContentType(), &buf)
}

// send sends a request with the session cookie and returns the status,
// the redirect target and the body.
func send(t *testing.T, client *http.Client, method, u, cookie, contentType string, body io.Reader) (int, string, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, u, body)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Cookie", server.SessionCookie+"="+cookie)
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header.Get("Location"), b
}

// untar returns every file of a .tar.gz.
func untar(t *testing.T, data []byte) map[string]string {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
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
		files[h.Name] = string(b)
	}
}

// ownBundleText returns what of the bundle's own files (manifest, redaction
// report) could carry a secret, after checking the rest: the manifest's
// digests are checked against the files, and the report's labels that name
// a registered secret or the PEM armour are fixed text. Left are the key
// names of "value of NAME" labels. Searching the whole files found only
// chance matches of short random secrets with their fixed text (a hex
// secret inside a SHA-256, `"S3` before "S3 secret access key"; see the
// bundle package's property test).
func ownBundleText(t *testing.T, st *wizard.State, files map[string]string, dir, name string) string {
	t.Helper()
	if name == bundle.ManifestFile {
		var m struct {
			Files []struct{ Name, SHA256 string } `json:"files"`
		}
		if err := json.Unmarshal([]byte(files[dir+name]), &m); err != nil {
			t.Fatalf("manifest: %v", err)
		}
		var names []string
		for _, f := range m.Files {
			if sum := sha256.Sum256([]byte(files[dir+f.Name])); hex.EncodeToString(sum[:]) != f.SHA256 {
				t.Fatalf("manifest: %s has the SHA-256 %s, not that of its file", f.Name, f.SHA256)
			}
			names = append(names, f.Name)
		}
		return strings.Join(names, "\n")
	}
	var r struct {
		Redactions []bundle.Redaction `json:"redactions"`
	}
	if err := json.Unmarshal([]byte(files[dir+name]), &r); err != nil {
		t.Fatalf("redactions: %v", err)
	}
	labels := map[string]bool{redact.PEMBlock: true}
	for _, f := range st.SecretFields() {
		labels[f.What] = true
	}
	var left []string
	for _, x := range r.Redactions {
		if !labels[x.What] {
			left = append(left, strings.TrimPrefix(x.What, "value of "))
		}
	}
	return strings.Join(left, "\n")
}
