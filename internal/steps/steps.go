package steps

import (
	"context"
	"crypto/x509"
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/carto-setup/carto-setup/internal/check"
	"github.com/carto-setup/carto-setup/internal/dbcheck"
	"github.com/carto-setup/carto-setup/internal/wizard"
)

// Deps are what the steps need from outside. The app builds them once and
// both front ends share them; tests pass function fakes for the checkers.
type Deps struct {
	// ReleaseDir is the carto-selfhosted checkout being installed.
	ReleaseDir string
	Now        func() time.Time
	Log        *slog.Logger

	Preflight PreflightChecker
	Domain    DomainChecker
	Database  DatabaseChecker
	Cache     CacheChecker
	Buckets   BucketsChecker
	// Advanced checks the Advanced step's proxy and CA bundle.
	Advanced AdvancedChecker
	// Registry checks the release's images and their registries as part
	// of preflight; nil leaves them out.
	Registry RegistryChecker
	// ACME obtains router certificates; ACMEDirectory is the directory
	// used when the admin names none, ACMETimeout bounds one issuance.
	ACME          Issuer
	ACMEDirectory string
	ACMETimeout   time.Duration
	// RootCAs verifies uploaded certificate chains; nil means the system
	// roots.
	RootCAs *x509.CertPool
	// Demo is --demo: preflight expects an offline machine and a small
	// one (preflight.Config.Demo).
	Demo bool
	// Containers says where CARTO's containers will connect to the
	// database from, for the pg_hba.conf hint; nil leaves it out.
	Containers func(ctx context.Context) dbcheck.ContainerNetwork
}

// Steps runs the wizard's steps against one store: the wizard's file store,
// or the in-memory state of a headless command.
type Steps struct {
	d     Deps
	store wizard.Store

	// gate, when set, makes a step continue past its own checks in the
	// same save (Continuing); testOnly makes it save only a run in which
	// nothing failed (Testing).
	gate     map[string]string
	testOnly bool
}

// New returns the steps over store. A nil Log discards; a nil Now is the
// wall clock.
func New(d Deps, store wizard.Store) *Steps {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	if d.ACMETimeout <= 0 {
		d.ACMETimeout = 3 * time.Minute
	}
	return &Steps{d: d, store: store}
}

// Store is the store the steps read and save.
func (s *Steps) Store() wizard.Store { return s.store }

// Deps returns the dependencies the steps were built with.
func (s *Steps) Deps() Deps { return s.d }

// WithStore returns the same steps over another store.
func (s *Steps) WithStore(store wizard.Store) *Steps { return &Steps{d: s.d, store: store} }

// Continuing returns the steps such that a step's submission is kept only
// when the admin may also continue past its checks with reasons (by check
// ID), by the rules of Continue, in the same save: the wizard's Continue
// button. A submission whose checks need a reason that was not given is
// refused, and nothing of it is saved.
func (s *Steps) Continuing(reasons map[string]string) *Steps {
	if reasons == nil {
		reasons = map[string]string{}
	}
	return &Steps{d: s.d, store: s.store, gate: reasons}
}

// Testing returns the steps such that a step's submission is kept only
// when none of its checks failed or could not run: the wizard's "Test"
// buttons. A failed test is refused (its run says why) and saves nothing,
// so what the state holds is always what was last accepted.
func (s *Steps) Testing() *Steps { return &Steps{d: s.d, store: s.store, testOnly: true} }

// Outcome is what submitting a step's input did.
type Outcome struct {
	// State is the state after the step; it was saved unless Errors has
	// entries.
	State wizard.State
	// Run is the check run of this submission (empty when the input was
	// refused before any check ran).
	Run wizard.CheckRun
	// Errors are problems of the input itself, by form field. When there
	// are any, nothing was saved.
	Errors wizard.FieldErrors
	// Made is the router certificate a refused TLS submission made or
	// obtained, for the form to hold: continuing with a reason then uses
	// it instead of ordering another from the CA.
	Made *wizard.TLSInput
}

// Refused reports whether the input was refused (nothing saved).
func (o Outcome) Refused() bool { return len(o.Errors) > 0 }

// errRefused aborts a store update whose input turned out to be refused.
var errRefused = errors.New("steps: input refused")

// ConfigErrors turns the results about the configuration itself (a failed
// "<step>.config" check, which means nothing could be checked) into field
// errors: the input is refused until it makes sense.
func ConfigErrors(results []check.Result) wizard.FieldErrors {
	errs := wizard.FieldErrors{}
	for _, r := range results {
		if r.Status == check.Fail && strings.HasSuffix(r.ID, ".config") {
			field := r.Field
			if field == "" {
				field = r.Step
			}
			errs.Add(field, r.Message)
		}
	}
	return errs
}

// FailedFields returns the message of every failed (or could-not-run)
// result that names a form field, to show next to it.
func FailedFields(results []wizard.StoredResult) wizard.FieldErrors {
	errs := wizard.FieldErrors{}
	for _, r := range results {
		if (r.Status == check.Fail || r.Status == check.Error) && r.Field != "" {
			errs.Add(r.Field, r.Message)
		}
	}
	return errs
}

// Continue decides whether the admin may go past step st's stored check run
// with the reasons they gave (by check ID), by the same rules on every front
// end (wizard.Gate): a failure that cannot be overridden blocks, any other
// failure needs a reason, warnings are recorded. When nothing blocks, the
// overrides are recorded and the step is marked done. ok is false when the
// step has no check run yet.
func (s *Steps) Continue(step wizard.Step, reasons map[string]string) (out Outcome, ok bool, err error) {
	now := s.d.Now()
	out.State, err = s.store.Update(func(st *wizard.State) error {
		run, has := st.Checks[step]
		if !has {
			return errRefused
		}
		ok = true
		out.Run = run
		errs, ovs := wizard.Gate(run.Results, reasons, now)
		if len(errs) > 0 {
			out.Errors = errs
			return errRefused
		}
		for _, o := range ovs {
			st.AddOverride(o)
			if o.Reason != wizard.WarningReason {
				s.d.Log.Info("check overridden", "check", o.Check, "reason", o.Reason)
			}
		}
		st.MarkDone(step)
		return nil
	})
	if errors.Is(err, errRefused) {
		out.State, err = s.store.Load()
	}
	return out, ok, err
}

// save runs fn on the stored state and saves it, unless fn refuses the
// input by returning field errors; then nothing is saved and the current
// state is returned.
func (s *Steps) save(fn func(*wizard.State) wizard.FieldErrors) (wizard.State, wizard.FieldErrors, error) {
	var errs wizard.FieldErrors
	st, err := s.store.Update(func(st *wizard.State) error {
		if errs = fn(st); len(errs) > 0 {
			return errRefused
		}
		return nil
	})
	if errors.Is(err, errRefused) {
		st, err = s.store.Load()
	}
	return st, errs, err
}

// record stores a step's check run, and clears the step's done mark when
// changed says its input is not what was accepted before; overrides the
// run makes stale are dropped (wizard.State.RecordRun).
func record(st *wizard.State, step wizard.Step, run wizard.CheckRun, changed bool) {
	if changed {
		delete(st.Done, step)
	}
	st.RecordRun(step, run, changed)
}

// settle ends a step's save: with Testing, a run in which something failed
// refuses the submission; with Continuing, the run is gated as Continue
// gates it and, when nothing blocks, the overrides are recorded and the
// step is marked done. Field errors refuse the whole save.
func (s *Steps) settle(st *wizard.State, step wizard.Step, run wizard.CheckRun) wizard.FieldErrors {
	if s.testOnly {
		for _, r := range run.Results {
			if r.Status == check.Fail || r.Status == check.Error {
				errs := FailedFields(run.Results)
				if len(errs) == 0 {
					errs.Add(string(step), r.Message)
				}
				return errs
			}
		}
		return nil
	}
	if s.gate == nil {
		return nil
	}
	errs, ovs := wizard.Gate(run.Results, s.gate, s.d.Now())
	if len(errs) > 0 {
		return errs
	}
	for _, o := range ovs {
		st.AddOverride(o)
		if o.Reason != wizard.WarningReason {
			s.d.Log.Info("check overridden", "check", o.Check, "reason", o.Reason)
		}
	}
	st.MarkDone(step)
	return nil
}
