package e2e

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/carto-setup/carto-setup/internal/buckets/s3test"
	"github.com/carto-setup/carto-setup/internal/demo/release"
)

// bucketsAction is one press of a button on a step's page: fill sets the
// form (nil for nothing) and then is the step the browser must show next.
type bucketsAction struct {
	step   string
	fill   func()
	button string
	then   string
}

// do presses the action's button after filling the form. Chromium aborts a
// load with ERR_NETWORK_CHANGED whenever Docker changes the host's
// interfaces (any test starting a container does), and Submit then lands on
// an error page; the step is opened again, refilled and pressed again, which
// the wizard's idempotent steps allow. While other tests start containers
// this happens several times a minute.
func (w bucketsAction) do(t *testing.T, ctx context.Context, a *App) {
	t.Helper()
	for attempt := 1; ; attempt++ {
		if w.fill != nil {
			w.fill()
		}
		Submit(t, ctx, `button[value="`+w.button+`"]`)
		if !strings.HasPrefix(Location(t, ctx), "chrome-error:") {
			break
		}
		if attempt == 8 {
			t.Fatalf("pressing %s on the %s step: the load was aborted %d times: %s", w.button, w.step, attempt, pageText(ctx))
		}
		reason := "load aborted"
		for _, f := range strings.Fields(pageText(ctx)) {
			if strings.HasPrefix(f, "ERR_") {
				reason = f
			}
		}
		t.Logf("pressing %s on the %s step: %s; trying again", w.button, w.step, reason)
		time.Sleep(time.Duration(attempt) * 300 * time.Millisecond)
		bucketsOpen(t, ctx, a.BaseURL+"/steps/"+w.step)
	}
	bucketsWantStep(t, ctx, w.then)
}

// bucketsOpen is Navigate with more patience for ERR_NETWORK_CHANGED: a
// page that takes a second to answer, like the review (it runs
// docker-compose to name the command), is aborted again and again while
// other tests start containers.
func bucketsOpen(t *testing.T, ctx context.Context, url string) {
	t.Helper()
	var err error
	for attempt := 1; attempt <= 10; attempt++ {
		tctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		err = chromedp.Do(tctx, chromedp.Navigate(url), chromedp.WaitVisible(chromedp.CSS("h1")))
		cancel()
		if err == nil || !strings.Contains(err.Error(), "ERR_NETWORK_CHANGED") {
			break
		}
		time.Sleep(time.Duration(attempt) * 300 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("open %s: %v", url, err)
	}
}

// walkToBucketsStep starts carto-setup and walks the browser to the
// buckets step on the lightest settings: the sample package, the domain
// resolved by the test's DNS server (the reachability failures get a
// reason), the embedded database and cache (a warning only) and a
// self-signed certificate. Docker is needed only because preflight does not
// let an admin continue without it.
func walkToBucketsStep(t *testing.T) (*App, context.Context) {
	t.Helper()
	NeedDocker(t)
	pkgDir := t.TempDir()
	key, err := release.SampleKeyJSON()
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{"customer.env": release.SampleCustomerEnv("carto3-onprem.lan"), "key.json": key} {
		if err := os.WriteFile(filepath.Join(pkgDir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	a := StartApp(t, Options{Args: []string{"--resolver", startDNS(t), "--http-addr", "127.0.0.1:0"}})
	ctx := Browser(t, true)
	Navigate(t, ctx, a.SignInURL)
	bucketsWantStep(t, ctx, "preflight")
	for _, w := range []bucketsAction{
		{"preflight", func() { FillOverrides(t, ctx, "e2e test machine") }, "next", "package"},
		{"package", func() {
			Upload(t, ctx, "customer_env", filepath.Join(pkgDir, "customer.env"))
			Upload(t, ctx, "key_json", filepath.Join(pkgDir, "key.json"))
		}, "upload", "package"},
		{"package", nil, "next", "domain"},
		{"domain", func() { Fill(t, ctx, "domain", e2eDomain) }, "check", "domain"},
		{"domain", func() { Fill(t, ctx, "domain", e2eDomain); FillOverrides(t, ctx, "e2e: no public DNS here") }, "next", "database"},
		{"database", func() { Choose(t, ctx, "db_mode", "embedded"); Choose(t, ctx, "cache_mode", "embedded") }, "next", "tls"},
		{"tls", func() { Choose(t, ctx, "tls_mode", "self-signed") }, "next", "buckets"},
	} {
		w.do(t, ctx, a)
	}
	return a, ctx
}

// bucketsWantStep fails the test unless the browser shows /steps/step.
func bucketsWantStep(t *testing.T, ctx context.Context, step string) {
	t.Helper()
	if loc := Location(t, ctx); !strings.HasSuffix(loc, "/steps/"+step) {
		t.Fatalf("expected the %s step, at %s: %s", step, loc, pageText(ctx))
	}
}

// bucketsNoSecret fails the test if secret appears anywhere in the current
// document's markup, attribute values included.
func bucketsNoSecret(t *testing.T, ctx context.Context, secret string) {
	t.Helper()
	html := Get(t, ctx, "read the page", chromedp.Evaluate[string](`document.documentElement.outerHTML`))
	if strings.Contains(html, secret) {
		t.Fatalf("the secret access key is in the page at %s", Location(t, ctx))
	}
}

// bucketsCheckStatuses returns check ID -> status from the page's results table.
func bucketsCheckStatuses(t *testing.T, ctx context.Context) map[string]string {
	t.Helper()
	return Get(t, ctx, "read check results", chromedp.Evaluate[map[string]string](
		`Object.fromEntries(Array.from(document.querySelectorAll("#check-results tr[data-check]")).map(function(r){ return [r.dataset.check, r.dataset.status] }))`))
}

// bucketsCORSFix is one .cors-fix block of the buckets page.
type bucketsCORSFix struct {
	Bucket string `json:"bucket"`
	Text   string `json:"text"`
}

func bucketsCORSFixes(t *testing.T, ctx context.Context) []bucketsCORSFix {
	t.Helper()
	return Get(t, ctx, "read CORS fixes", chromedp.Evaluate[[]bucketsCORSFix](
		`Array.from(document.querySelectorAll(".cors-fix")).map(function(d){ return {bucket: d.dataset.bucket, text: d.querySelector("pre").textContent} })`))
}

// TestBucketsS3CORSFix configures S3-compatible buckets that have no CORS
// rules: the test fails the CORS check of both buckets and shows the aws
// command with its cors.json; the test applies exactly that file through the
// S3 API with the same credentials, as the admin would, tests again, and
// continues to a review whose customer.env diff sets the S3 buckets with the
// secret masked. The secret access key never appears in a page or on the
// console.
func TestBucketsS3CORSFix(t *testing.T) {
	const imports, thumbnails = "carto-e2e-imports", "carto-e2e-thumbnails"
	creds := s3test.Credentials{AccessKeyID: "AKIAE2EBUCKETS000001", SecretAccessKey: "e2eS3cret/Bucket+Key=wJalrXUtnFEMI7q", Region: "eu-west-1"}
	s3 := s3test.Start(t, s3test.Options{Credentials: creds, Buckets: []string{imports, thumbnails}})
	s3.SetPublic(thumbnails, true)

	a, ctx := walkToBucketsStep(t)
	bucketsNoSecret(t, ctx, creds.SecretAccessKey)

	// First test: everything works but CORS.
	bucketsAction{"buckets", func() {
		Choose(t, ctx, "buckets_mode", "s3")
		Fill(t, ctx, "imports_bucket", imports)
		SetChecked(t, ctx, "imports_public", false)
		Fill(t, ctx, "thumbnails_bucket", thumbnails)
		SetChecked(t, ctx, "thumbnails_public", true)
		Fill(t, ctx, "s3_region", creds.Region)
		Fill(t, ctx, "s3_access_key_id", creds.AccessKeyID)
		Fill(t, ctx, "s3_secret", creds.SecretAccessKey)
		Fill(t, ctx, "s3_endpoint", s3.URL)
	}, "test", "buckets"}.do(t, ctx, a)
	bucketsNoSecret(t, ctx, creds.SecretAccessKey)
	statuses := bucketsCheckStatuses(t, ctx)
	for _, id := range []string{"buckets.credentials", "buckets.imports.write", "buckets.imports.read", "buckets.imports.delete",
		"buckets.thumbnails.write", "buckets.thumbnails.public_read", "buckets.thumbnails.delete"} {
		if statuses[id] != "pass" {
			t.Errorf("%s: %q, want pass (all: %v)", id, statuses[id], statuses)
		}
	}
	for _, id := range []string{"buckets.imports.cors", "buckets.thumbnails.cors"} {
		if statuses[id] != "fail" {
			t.Errorf("%s: %q, want fail on a bucket without CORS", id, statuses[id])
		}
	}
	if v := Get(t, ctx, "typed endpoint", chromedp.Value(chromedp.CSS(`[name="s3_endpoint"]`))); v != s3.URL {
		t.Errorf("the failed test lost the endpoint: %q", v)
	}
	fixes := bucketsCORSFixes(t, ctx)
	if len(fixes) != 2 {
		t.Fatalf("%d CORS fixes shown, want one per bucket: %+v", len(fixes), fixes)
	}
	for _, f := range fixes {
		if f.Bucket != imports && f.Bucket != thumbnails {
			t.Fatalf("a fix for bucket %q", f.Bucket)
		}
		cmd := "aws s3api put-bucket-cors --bucket " + f.Bucket + " --cors-configuration file://cors.json"
		if !strings.Contains(f.Text, cmd) || !strings.Contains(f.Text, `"AllowedMethods": ["GET", "PUT", "POST"]`) {
			t.Fatalf("the fix for %s lacks the command or the rule:\n%s", f.Bucket, f.Text)
		}
		// The admin saves the JSON as cors.json and runs the command.
		_, rest, _ := strings.Cut(f.Text, "Save as cors.json:")
		doc, _, ok := strings.Cut(rest, "Then run")
		var cfg s3test.CORSConfiguration
		if err := json.Unmarshal([]byte(doc), &cfg); !ok || err != nil {
			t.Fatalf("the fix's cors.json does not parse (%v):\n%s", err, f.Text)
		}
		client := &s3test.Client{Endpoint: s3.URL, Credentials: creds}
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := client.PutBucketCORS(cctx, f.Bucket, cfg)
		cancel()
		if err != nil {
			t.Fatalf("apply the fix to %s: %v", f.Bucket, err)
		}
	}

	// Second test, with the secret left blank (it is kept): all pass.
	bucketsAction{"buckets", nil, "test", "buckets"}.do(t, ctx, a)
	bucketsNoSecret(t, ctx, creds.SecretAccessKey)
	after := bucketsCheckStatuses(t, ctx)
	if len(after) != len(statuses) {
		t.Errorf("the second test ran %d checks, the first %d: %v", len(after), len(statuses), after)
	}
	for id, st := range after {
		if st != "pass" {
			t.Errorf("after the CORS fix %s: %q, want pass", id, st)
		}
	}
	if fixes := bucketsCORSFixes(t, ctx); len(fixes) != 0 {
		t.Errorf("CORS fixes still shown after the rule was applied: %+v", fixes)
	}
	for _, b := range []string{imports, thumbnails} {
		if keys, err := s3.Objects(b); err != nil || len(keys) != 0 {
			t.Errorf("objects left in %s: %v %v", b, keys, err)
		}
	}

	bucketsAction{"buckets", nil, "next", "advanced"}.do(t, ctx, a)
	bucketsAction{"advanced", nil, "next", "review"}.do(t, ctx, a)
	bucketsNoSecret(t, ctx, creds.SecretAccessKey)
	diff := Get(t, ctx, "read the diff", chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("#diff span")).map(function(s){ return s.textContent })`))
	// added returns the value an added line gives key, unquoted.
	added := func(key string) string {
		for _, l := range diff {
			if v, ok := strings.CutPrefix(l, "+ "+key+"="); ok {
				return strings.Trim(strings.TrimSpace(v), `"'`)
			}
		}
		t.Errorf("the diff adds no %s line:\n%s", key, strings.Join(diff, ""))
		return ""
	}
	for key, want := range map[string]string{
		"WORKSPACE_IMPORTS_BUCKET":          imports,
		"WORKSPACE_THUMBNAILS_BUCKET":       thumbnails,
		"WORKSPACE_IMPORTS_PROVIDER":        "s3",
		"WORKSPACE_THUMBNAILS_PROVIDER":     "s3",
		"IMPORT_PROVIDER":                   "s3",
		"WORKSPACE_IMPORTS_SECRETACCESSKEY": "****",
	} {
		if got := added(key); got != want {
			t.Errorf("the diff sets %s to %q, want %q", key, got, want)
		}
	}

	// Every page the wizard serves, and its console, keep the secret out.
	for _, step := range []string{"preflight", "package", "domain", "database", "tls", "buckets", "advanced", "review"} {
		bucketsOpen(t, ctx, a.BaseURL+"/steps/"+step)
		bucketsNoSecret(t, ctx, creds.SecretAccessKey)
	}
	if strings.Contains(a.Stdout.String()+a.Stderr.String(), creds.SecretAccessKey) {
		t.Fatal("the secret access key is on carto-setup's console")
	}
}
