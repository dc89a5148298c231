package steps

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/carto-setup/carto-setup/internal/check"
	"github.com/carto-setup/carto-setup/internal/proxycheck"
	"github.com/carto-setup/carto-setup/internal/wizard"
)

// TestAdvancedStep: bad values are refused next to their field with nothing
// saved; a further setting may not take a key another step writes; the
// proxy is checked against the preflight's egress list for this install;
// skipping TLS verification warns; a changed input must be continued
// past again.
func TestAdvancedStep(t *testing.T) {
	t.Parallel()
	var got []proxycheck.Config
	checker := AdvancedFunc(func(_ context.Context, c proxycheck.Config) []check.Result {
		got = append(got, c)
		return []check.Result{{Step: "advanced", ID: proxycheck.IDProxyConnect, Status: check.Fail, Field: "https_proxy", Message: "refused"}}
	})
	st := wizard.State{Buckets: wizard.BucketsInput{Mode: wizard.BucketsS3, S3Region: "eu-west-1"}}
	s := New(Deps{Now: time.Now, Advanced: checker, ReleaseDir: t.TempDir()}, wizard.NewMemStore(st))
	ctx := context.Background()

	for _, tc := range []struct {
		name  string
		in    wizard.AdvancedInput
		field string
	}{
		{"proxy with credentials", wizard.AdvancedInput{HTTPSProxy: "http://user:pw@proxy:3128"}, "https_proxy"},
		{"key of the database step", wizard.AdvancedInput{Extra: []wizard.AdvancedVar{{Key: "LOG_LEVEL", Value: "debug"}, {Key: "REDIS_HOST", Value: "x"}}}, wizard.ExtraField(1, false)},
		{"key of the buckets step", wizard.AdvancedInput{Extra: []wizard.AdvancedVar{{Key: "WORKSPACE_IMPORTS_BUCKET", Value: "x"}}}, wizard.ExtraField(0, false)},
		{"value with ${...}", wizard.AdvancedInput{Extra: []wizard.AdvancedVar{{Key: "LOG_LEVEL", Value: "${HOME}"}}}, wizard.ExtraField(0, true)},
		{"value that adds a line", wizard.AdvancedInput{Extra: []wizard.AdvancedVar{{Key: "LOG_LEVEL", Value: "x\nSELFHOSTED_DOMAIN=evil"}}}, wizard.ExtraField(0, true)},
	} {
		out, err := s.Advanced(ctx, AdvancedForm{tc.in})
		if err != nil {
			t.Fatal(err)
		}
		if !out.Refused() || out.Errors[tc.field] == "" {
			t.Errorf("%s: errors %v, want one on %s", tc.name, out.Errors, tc.field)
		}
		if len(out.State.Checks) != 0 || len(got) != 0 {
			t.Errorf("%s: a refused input was checked or saved", tc.name)
		}
	}

	// Nothing set: no live check, an empty run, and the admin continues.
	out, err := s.Advanced(ctx, AdvancedForm{})
	if err != nil || out.Refused() || len(got) != 0 {
		t.Fatalf("empty settings: %v %v, checker called %d times", err, out.Errors, len(got))
	}
	if cont, ok, _ := s.Continue(wizard.Advanced, nil); !ok || cont.Refused() || !cont.State.Done[wizard.Advanced] {
		t.Fatalf("could not continue past empty settings: %+v", cont.Errors)
	}

	in := wizard.AdvancedInput{HTTPProxy: "http://proxy.internal:3128", NoProxy: "localhost,.internal", SkipTLSVerify: true,
		Extra: []wizard.AdvancedVar{{Key: "LOG_LEVEL", Value: "debug"}}}
	out, err = s.Advanced(ctx, AdvancedForm{in})
	if err != nil || out.Refused() {
		t.Fatalf("valid settings: %v %v", err, out.Errors)
	}
	if len(got) != 1 || got[0].HTTPProxy != in.HTTPProxy || got[0].NoProxy != in.NoProxy ||
		!slices.Contains(got[0].Targets, "auth.carto.com:443") || !slices.Contains(got[0].Targets, "s3.eu-west-1.amazonaws.com:443") {
		t.Fatalf("the checker got %+v, want the proxy and this install's egress list", got)
	}
	ids := map[string]check.Status{}
	for _, r := range out.Run.Results {
		ids[r.ID] = r.Status
	}
	if ids[IDAdvancedTLSVerify] != check.Warn || ids[IDAdvancedHTTPSProxy] != check.Warn || ids[proxycheck.IDProxyConnect] != check.Fail {
		t.Errorf("results %v", ids)
	}
	if out.State.Done[wizard.Advanced] || out.State.Advanced.HTTPProxy != in.HTTPProxy {
		t.Errorf("changed settings: done %v, saved %+v", out.State.Done[wizard.Advanced], out.State.Advanced)
	}
	cont, _, _ := s.Continue(wizard.Advanced, nil)
	if !cont.Refused() {
		t.Fatal("a failed proxy check did not block without a reason")
	}
	cont, _, _ = s.Continue(wizard.Advanced, map[string]string{proxycheck.IDProxyConnect: "the proxy is being set up"})
	if cont.Refused() || !cont.State.Done[wizard.Advanced] {
		t.Fatalf("a reason did not let the admin continue: %v", cont.Errors)
	}
}
