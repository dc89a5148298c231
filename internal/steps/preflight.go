package steps

import (
	"context"

	"github.com/carto-setup/carto-setup/internal/check"
	"github.com/carto-setup/carto-setup/internal/deploy"
	"github.com/carto-setup/carto-setup/internal/preflight"
	"github.com/carto-setup/carto-setup/internal/wizard"
)

// preflightConfig is what preflight checks for this install. Egress depends
// on the bucket provider chosen later, so a re-run after the buckets step
// checks that provider's endpoint too.
func (s *Steps) preflightConfig(st wizard.State) preflight.Config {
	pc := preflight.Config{ReleaseDir: s.d.ReleaseDir, Demo: s.d.Demo}
	// The ports the release publishes with this install's .env (CARTO's
	// are 80, 443 and 5447, preflight's default until a package is in).
	if plan, err := deploy.NewPlan(st, s.d.ReleaseDir); err == nil {
		if ports := plan.HostPorts(); len(ports) > 0 {
			pc.Ports = ports
		}
	}
	if b := st.Buckets; b.Mode != "" {
		pc.BucketProvider, pc.S3Region, pc.S3Endpoint, pc.AzureAccount = b.Mode, b.S3Region, b.S3Endpoint, b.AzureStorageAccount
	}
	return pc
}

// Preflight runs the host checks and saves the run. The step has no input:
// the admin continues past it with Continue.
func (s *Steps) Preflight(ctx context.Context) (Outcome, error) {
	st, err := s.store.Load()
	if err != nil {
		return Outcome{}, err
	}
	// The registry group asks the registries while the host checks run.
	registry := make(chan []check.Result, 1)
	go func() { registry <- s.registryResults(ctx, st) }()
	results := s.d.Preflight.Check(ctx, s.preflightConfig(st))
	run := wizard.NewCheckRun(s.d.Now(), append(results, <-registry...))
	st, _, err = s.save(func(st *wizard.State) wizard.FieldErrors {
		st.RecordRun(wizard.Preflight, run, false)
		return nil
	})
	return Outcome{State: st, Run: run}, err
}
