package wizard

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/carto-setup/carto-setup/internal/check"
)

func TestChangedSinceInstall(t *testing.T) {
	now := time.Date(2026, 8, 1, 10, 0, 0, 0, time.UTC)
	st := State{Domain: DomainInput{Domain: "carto.example.com"}, Database: DatabaseInput{Mode: ModeExternal, AdminPassword: "pw-1"}}
	if st.Installed() || len(st.Changed()) != 0 || st.ChangedSinceInstall(Install) {
		t.Fatal("a state never installed shows changes")
	}
	st.RecordInstall(st, now, "2026.8.11")
	st.SetChecks(Smoke, CheckRun{At: now.Add(time.Minute)})
	if !st.Installed() || len(st.Changed()) != 0 {
		t.Fatalf("just installed: changed %v", st.Changed())
	}
	for _, s := range Steps {
		if st.ChangedSinceInstall(s) {
			t.Errorf("%s changed right after the install", s)
		}
	}

	// A secret's change counts, and the record never holds it.
	st.Database.AdminPassword = "pw-2"
	if got := st.Changed(); !slices.Equal(got, []Step{Database}) {
		t.Fatalf("after a password change: %v", got)
	}
	for _, s := range []Step{Database, Review, Install, Smoke} {
		if !st.ChangedSinceInstall(s) {
			t.Errorf("%s not out of date", s)
		}
	}
	if st.ChangedSinceInstall(Domain) {
		t.Error("the domain did not change")
	}
	b, _ := json.Marshal(st.LastInstall)
	if strings.Contains(string(b), "pw-1") || strings.Contains(string(b), "pw-2") {
		t.Fatal("the install record holds a password")
	}
	// Its key is a registered secret, masked wherever the state is shown.
	if !slices.Contains(st.Secrets(), st.LastInstall.Key) {
		t.Error("the install record's key is not a registered secret")
	}
	// Undoing the change undoes the mark.
	st.Database.AdminPassword = "pw-1"
	if len(st.Changed()) != 0 {
		t.Errorf("back to the installed input: changed %v", st.Changed())
	}
	// A smoke test older than the install is out of date.
	st.RecordInstall(st, now.Add(time.Hour), "2026.8.11")
	if !st.ChangedSinceInstall(Smoke) || st.ChangedSinceInstall(Install) {
		t.Error("a smoke test from before the install is not marked")
	}
}

func TestRecordRunDropsStaleOverrides(t *testing.T) {
	now := time.Now()
	run := func(rs ...check.Result) CheckRun { return NewCheckRun(now, rs) }
	fail := func(id string) check.Result { return check.Result{Step: "preflight", ID: id, Status: check.Fail} }
	pass := func(id string) check.Result { return check.Result{Step: "preflight", ID: id, Status: check.Pass} }
	var st State
	st.RecordRun(Preflight, run(fail("preflight.cpu"), fail("preflight.egress.a"), fail("preflight.memory")), false)
	for _, id := range []string{"preflight.cpu", "preflight.egress.a", "preflight.memory", "domain.resolves"} {
		st.AddOverride(Override{Check: id, Reason: "r"})
	}
	// cpu now passes, egress.a is grouped into another ID, memory still
	// fails: only memory's reason (and the other step's) stays.
	st.RecordRun(Preflight, run(pass("preflight.cpu"), fail("preflight.egress.dns"), fail("preflight.memory")), false)
	var kept []string
	for _, o := range st.Overrides {
		kept = append(kept, o.Check)
	}
	if !slices.Equal(kept, []string{"preflight.memory", "domain.resolves"}) {
		t.Fatalf("kept %v", kept)
	}
	if r := st.Reasons(st.Checks[Preflight]); r["preflight.memory"] != "r" || len(r) != 1 {
		t.Errorf("reasons for the form: %v", r)
	}
	// A changed input drops every override of the step.
	st.RecordRun(Preflight, run(fail("preflight.memory")), true)
	if len(st.Overrides) != 1 || st.Overrides[0].Check != "domain.resolves" {
		t.Fatalf("after an input change: %+v", st.Overrides)
	}
}

func TestGateCoveredBy(t *testing.T) {
	now := time.Now()
	results := []StoredResult{
		{Result: check.Result{ID: "domain.resolves", Status: check.Fail}},
		{Result: check.Result{ID: "domain.reachable", Status: check.Fail}, CoveredBy: "domain.resolves"},
		{Result: check.Result{ID: "domain.server_probe", Status: check.Error}, CoveredBy: "domain.resolves"},
	}
	errs, _ := Gate(results, nil, now)
	if len(errs) != 1 || errs[OverrideField("domain.resolves")] == "" {
		t.Fatalf("one reason asked for, for the cause: %v", errs)
	}
	errs, ovs := Gate(results, map[string]string{"domain.resolves": "no DNS in the lab"}, now)
	if len(errs) != 0 || len(ovs) != 3 {
		t.Fatalf("the cause's reason covers all: %v %+v", errs, ovs)
	}
	for _, o := range ovs {
		if !strings.Contains(o.Reason, "no DNS in the lab") {
			t.Errorf("%s recorded as %q", o.Check, o.Reason)
		}
	}
	// When the cause passes, the covered failure needs its own reason.
	results[0].Status = check.Pass
	if errs, _ := Gate(results, map[string]string{"domain.resolves": "x"}, now); errs[OverrideField("domain.reachable")] == "" {
		t.Errorf("a covered failure whose cause passes got through: %v", errs)
	}
}

func TestOnlyMode(t *testing.T) {
	b := BucketsInput{Mode: BucketsGCS, GCSKeyJSON: "k", S3SecretAccessKey: "s", AzureAccessKey: "a", GCSProjectID: "p"}.OnlyMode()
	if b.GCSKeyJSON != "k" || b.S3SecretAccessKey != "" || b.AzureAccessKey != "" {
		t.Errorf("gcs: %+v", b)
	}
	c := CacheInput{Mode: ModeEmbedded, Host: "h", Password: "p", CAPEM: "c"}.OnlyMode()
	if c.Password != "" || c.Host != "" || c.CAPEM != "" {
		t.Errorf("embedded cache keeps the external one's settings: %+v", c)
	}
	d := DatabaseInput{Mode: ModeEmbedded, CAPEM: "ca", AdminPassword: "p"}.OnlyMode()
	if d.CAPEM != "" || d.AdminPassword != "p" {
		t.Errorf("embedded database: %+v", d)
	}
}
