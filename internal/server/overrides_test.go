package server

import (
	"bufio"
	"context"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/carto-setup/carto-setup/internal/buckets"
	"github.com/carto-setup/carto-setup/internal/cachecheck"
	"github.com/carto-setup/carto-setup/internal/check"
	"github.com/carto-setup/carto-setup/internal/dbcheck"
	"github.com/carto-setup/carto-setup/internal/jobs"
	"github.com/carto-setup/carto-setup/internal/steps"
	"github.com/carto-setup/carto-setup/internal/wizard"
)

// overrideCase is one check ID of check/overrides.md failing either way.
type overrideCase struct {
	id    string
	fixed bool
}

var backticked = regexp.MustCompile("`([^`]+)`")

// overrideTable reads check/overrides.md: every concrete check ID with a
// fixed failure, an overridable one, or both. IDs with a pattern
// (<host>, *) and IDs that never fail are left out, as are the
// "<step>.config" results, which refuse the input before any gate. The
// certificate checks (tls.*) run on real certificates and are walked by
// TestTLSOverridableAndFixed.
func overrideTable(t *testing.T) []overrideCase {
	t.Helper()
	f, err := os.Open("../check/overrides.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []overrideCase
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		cols := strings.Split(sc.Text(), "|")
		if len(cols) != 5 || !strings.Contains(cols[1], "`") {
			continue
		}
		fixed, overridable := strings.TrimSpace(cols[2]), strings.TrimSpace(cols[3])
		for _, m := range backticked.FindAllStringSubmatch(cols[1], -1) {
			id := m[1]
			if strings.ContainsAny(id, "<*") || strings.HasSuffix(id, ".config") || strings.HasPrefix(id, "tls.") {
				continue
			}
			if fixed != "" {
				out = append(out, overrideCase{id, true})
			}
			if overridable != "" && !strings.HasPrefix(overridable, "never fail") {
				out = append(out, overrideCase{id, false})
			}
		}
	}
	if len(out) < 50 {
		t.Fatalf("read only %d cases from overrides.md", len(out))
	}
	return out
}

// TestEveryCheckOverridableOrNot walks every check of overrides.md through
// its page, failing as the table says: an overridable failure gets a
// reason field and a reason lets the admin continue (recorded); a fixed
// one gets no field, and no reason gets past it. Continuing without a
// reason is refused (422) and saves nothing.
func TestEveryCheckOverridableOrNot(t *testing.T) {
	for _, tc := range overrideTable(t) {
		name := tc.id + map[bool]string{true: "/fixed", false: "/overridable"}[tc.fixed]
		t.Run(name, func(t *testing.T) {
			f := newFixture(t)
			res := check.Result{ID: tc.id, Status: check.Fail, Fixed: tc.fixed, Message: tc.id + " failed on purpose", Step: strings.SplitN(tc.id, ".", 2)[0]}
			step, submit := f.failingStep(t, res)
			field := `input[name="` + wizard.OverrideField(tc.id) + `"]`

			before, _ := f.deps.Store.Load()
			r, doc := submit(nil)
			if after, _ := f.deps.Store.Load(); after.Revision != before.Revision {
				t.Errorf("the refused continue saved the state (revision %d to %d)", before.Revision, after.Revision)
			}
			if r.StatusCode != http.StatusUnprocessableEntity {
				t.Fatalf("continue without a reason: %d, want 422", r.StatusCode)
			}
			if got := doc.Find(field).Length(); got != map[bool]int{true: 0, false: 1}[tc.fixed] {
				t.Errorf("reason fields: %d (fixed %v)", got, tc.fixed)
			}
			if !strings.Contains(doc.Find("#error-summary").Text(), tc.id) {
				t.Errorf("the error summary does not name %s: %q", tc.id, doc.Find("#error-summary").Text())
			}
			st, _ := f.deps.Store.Load()
			if st.Done[step] {
				t.Fatalf("a refused continue marked %s done", step)
			}

			r, doc = submit(map[string]string{tc.id: "continuing on purpose"})
			st, _ = f.deps.Store.Load()
			o, overridden := st.Overridden(tc.id)
			switch {
			case tc.fixed && (r.StatusCode != http.StatusUnprocessableEntity || st.Done[step] || overridden):
				t.Fatalf("a reason got past a fixed failure: %d, done %v, override %v", r.StatusCode, st.Done[step], overridden)
			case tc.fixed && !strings.Contains(doc.Text(), "cannot be overridden"):
				t.Error("the page does not say the check cannot be overridden")
			case !tc.fixed && (r.StatusCode != http.StatusSeeOther || !st.Done[step] || o.Reason != "continuing on purpose"):
				t.Fatalf("a reason did not get past an overridable failure: %d, done %v, override %+v", r.StatusCode, st.Done[step], o)
			}
		})
	}
}

// failingStep prepares the page of res's step so that its checks give
// exactly res, and returns the step and a Continue submission with the
// given reasons.
func (f *fixture) failingStep(t *testing.T, res check.Result) (wizard.Step, func(reasons map[string]string) (*http.Response, *goquery.Document)) {
	t.Helper()
	reasonFields := func(reasons map[string]string, form map[string]string) {
		for id, why := range reasons {
			form[wizard.OverrideField(id)] = why
		}
	}
	stored := func(step wizard.Step, extra func(*wizard.State)) {
		f.deps.Store.Update(func(st *wizard.State) error {
			for _, s := range wizard.Steps {
				if s == step {
					break
				}
				st.MarkDone(s)
			}
			st.SetChecks(step, wizard.NewCheckRun(time.Now(), []check.Result{res}))
			if extra != nil {
				extra(st)
			}
			return nil
		})
	}
	form := func(reasons map[string]string, base map[string]string) map[string]string {
		out := map[string]string{}
		for k, v := range base {
			out[k] = v
		}
		reasonFields(reasons, out)
		return out
	}
	post := func(path string, fields map[string]string) (*http.Response, *goquery.Document) {
		v := url.Values{}
		for k, x := range fields {
			v.Set(k, x)
		}
		return f.post(t, path, v)
	}
	switch res.Step {
	case "preflight":
		stored(wizard.Preflight, nil)
		return wizard.Preflight, func(r map[string]string) (*http.Response, *goquery.Document) {
			return post("/steps/preflight", form(r, map[string]string{"action": "next"}))
		}
	case "package":
		stored(wizard.Package, func(st *wizard.State) { st.Package.CustomerEnv = "SELFHOSTED_DOMAIN=x\n" })
		return wizard.Package, func(r map[string]string) (*http.Response, *goquery.Document) {
			res, doc, _ := f.postMultipart(t, "/steps/package", form(r, map[string]string{"action": "next"}), nil)
			return res, doc
		}
	case "domain":
		stored(wizard.Domain, func(st *wizard.State) { st.Domain.Domain = "carto.example.com" })
		return wizard.Domain, func(r map[string]string) (*http.Response, *goquery.Document) {
			return post("/steps/domain", form(r, map[string]string{"action": "next", "domain": "carto.example.com"}))
		}
	case "database", "cache":
		f.setSteps(func(d *steps.Deps) {
			d.Database = steps.DatabaseFunc(func(context.Context, dbcheck.Config) []check.Result { return []check.Result{res} })
			d.Cache = steps.CacheFunc(func(context.Context, cachecheck.Config) []check.Result { return []check.Result{res} })
		})
		stored(wizard.Database, nil)
		fields := map[string]string{"action": "next", "db_mode": "external", "host": "db.example.com", "port": "5432", "admin_user": "postgres",
			"admin_password": "admin-pw-1234", "workspace_password": "workspace-pw-1234", "cache_mode": "embedded", "cache_port": "6379"}
		if res.Step == "cache" {
			fields["db_mode"], fields["cache_mode"], fields["cache_host"] = "embedded", "external", "cache.example.com"
		}
		return wizard.Database, func(r map[string]string) (*http.Response, *goquery.Document) {
			res, doc, _ := f.postMultipart(t, "/steps/database", form(r, fields), nil)
			return res, doc
		}
	case "buckets":
		f.setSteps(func(d *steps.Deps) {
			d.Buckets = steps.BucketsFunc(func(context.Context, buckets.Config) []check.Result { return []check.Result{res} })
		})
		stored(wizard.Buckets, nil)
		fields := map[string]string{"action": "next", "buckets_mode": "s3", "imports_bucket": "carto-imports", "thumbnails_bucket": "carto-thumbs",
			"s3_region": "eu-west-1", "s3_access_key_id": "AKIAIOSFODNN7EXAMPLE", "s3_secret": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}
		return wizard.Buckets, func(r map[string]string) (*http.Response, *goquery.Document) {
			res, doc, _ := f.postMultipart(t, "/steps/buckets", form(r, fields), nil)
			return res, doc
		}
	case "smoke":
		sm := &fakeSmoker{job: jobs.Record{ID: "smoke1", Kind: "smoke", Status: jobs.Failed, Started: time.Now(), Ended: time.Now()}}
		f.deps.Smoke = sm
		f.router = routes(f.deps)
		stored(wizard.Smoke, nil)
		return wizard.Smoke, func(r map[string]string) (*http.Response, *goquery.Document) {
			return post("/steps/smoke", form(r, map[string]string{"action": "next"}))
		}
	}
	t.Fatalf("no page for %s", res.ID)
	return "", nil
}
