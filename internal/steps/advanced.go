package steps

import (
	"context"
	"reflect"
	"slices"
	"strings"

	"github.com/carto-setup/carto-setup/internal/check"
	"github.com/carto-setup/carto-setup/internal/deploy"
	"github.com/carto-setup/carto-setup/internal/preflight"
	"github.com/carto-setup/carto-setup/internal/proxycheck"
	"github.com/carto-setup/carto-setup/internal/wizard"
)

// AdvancedChecker checks the proxy and the extra CA bundle
// (proxycheck.Run).
type AdvancedChecker interface {
	Check(ctx context.Context, cfg proxycheck.Config) []check.Result
}

// AdvancedFunc adapts a function to AdvancedChecker.
type AdvancedFunc func(ctx context.Context, cfg proxycheck.Config) []check.Result

// Check calls f.
func (f AdvancedFunc) Check(ctx context.Context, cfg proxycheck.Config) []check.Result {
	return f(ctx, cfg)
}

// Check IDs of the Advanced step besides proxycheck's.
const (
	IDAdvancedTLSVerify   = "advanced.tls_reject_unauthorized"
	IDAdvancedHTTPSProxy  = "advanced.proxy.https_missing"
	fieldAdvancedSkipTLS  = "skip_tls_verify"
	advancedFieldPrefix   = "advanced."
	advancedCheckStepName = "advanced"
)

// AdvancedForm is the Advanced settings step's input.
type AdvancedForm struct {
	wizard.AdvancedInput
}

// Validate checks every field (wizard.AdvancedInput.Validate) and that no
// further setting names a key another step writes (deploy.StepKeys), the
// same rule the install applies, so that the refusal shows next to the
// field here instead of on the review.
func (f AdvancedForm) Validate() wizard.FieldErrors {
	errs := f.AdvancedInput.Validate()
	owned := deploy.StepKeys()
	for i, v := range f.Extra {
		kf := wizard.ExtraField(i, false)
		if _, bad := errs[kf]; !bad && slices.Contains(owned, v.Key) {
			errs.Add(kf, v.Key+" is written by another step of the wizard; change it there.")
		}
	}
	return errs
}

// AdvancedChecks runs the live checks of the settings: egress through the
// proxy to every host CARTO needs (the preflight's list for this install)
// and the CA bundle, plus warnings for what cannot be checked but matters.
// Settings that need no check give an empty list.
func (s *Steps) AdvancedChecks(ctx context.Context, st wizard.State, in wizard.AdvancedInput) []check.Result {
	var results []check.Result
	if in.HTTPSProxy == "" && in.HTTPProxy != "" {
		results = append(results, check.Result{Step: advancedCheckStepName, ID: IDAdvancedHTTPSProxy, Status: check.Warn, Field: "https_proxy",
			Measured: "HTTP_PROXY set, HTTPS_PROXY empty", Required: "HTTPS_PROXY for HTTPS traffic",
			Message: "Only HTTP_PROXY is set: CARTO's services reach every HTTPS host (all of those it needs) directly, not through the proxy.",
			Hint:    "Set HTTPS_PROXY too, usually to the same URL."})
	}
	if in.SkipTLSVerify {
		results = append(results, check.Result{Step: advancedCheckStepName, ID: IDAdvancedTLSVerify, Status: check.Warn, Field: fieldAdvancedSkipTLS,
			Measured: "NODE_TLS_REJECT_UNAUTHORIZED=0", Required: "certificates verified",
			Message: "CARTO's services will accept any certificate, so anyone on the network path can read and change their traffic, passwords included.",
			Hint:    "Give the proxy's CA in the extra CA bundle instead, and leave this off."})
	}
	if in.HTTPProxy == "" && in.HTTPSProxy == "" && strings.TrimSpace(in.ExtraCAPEM) == "" {
		return results
	}
	targets := preflight.EgressTargets(s.preflightConfig(st))
	return append(results, s.d.Advanced.Check(ctx, proxycheck.Config{
		HTTPProxy: in.HTTPProxy, HTTPSProxy: in.HTTPSProxy, NoProxy: in.NoProxy,
		CABundlePEM: []byte(strings.TrimSpace(in.ExtraCAPEM)), Targets: targets,
	})...)
}

// Advanced validates the settings, checks the proxy and the CA bundle
// live, and saves them with the run; a changed input clears the step's
// done mark. A form that fails validation is refused and nothing is saved.
func (s *Steps) Advanced(ctx context.Context, f AdvancedForm) (Outcome, error) {
	st, err := s.store.Load()
	if err != nil {
		return Outcome{}, err
	}
	f.ExtraCAPEM = strings.TrimSpace(f.ExtraCAPEM)
	if f.ExtraCAPEM != "" {
		f.ExtraCAPEM += "\n"
	}
	if errs := f.Validate(); len(errs) > 0 {
		return Outcome{State: st, Errors: errs}, nil
	}
	// The values other steps write are checked by the same rules too,
	// since a further setting is refused by the keys those steps take.
	probe := st
	probe.Advanced = f.AdvancedInput
	errs := wizard.FieldErrors{}
	for _, r := range deploy.ValueChecks(probe) {
		if field, ok := strings.CutPrefix(r.Field, advancedFieldPrefix); ok {
			errs.Add(field, r.Message)
		}
	}
	if len(errs) > 0 {
		return Outcome{State: st, Errors: errs}, nil
	}
	run := wizard.NewCheckRun(s.d.Now(), s.AdvancedChecks(ctx, st, f.AdvancedInput))
	st, errs, err = s.save(func(st *wizard.State) wizard.FieldErrors {
		record(st, wizard.Advanced, run, !sameAdvanced(st.Advanced, f.AdvancedInput))
		st.Advanced = f.AdvancedInput
		return s.settle(st, wizard.Advanced, run)
	})
	return Outcome{State: st, Run: run, Errors: errs}, err
}

// sameAdvanced compares two Advanced inputs.
func sameAdvanced(a, b wizard.AdvancedInput) bool { return reflect.DeepEqual(a, b) }
