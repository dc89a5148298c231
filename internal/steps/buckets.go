package steps

import (
	"context"
	"strings"

	"github.com/carto-setup/carto-setup/internal/buckets"
	"github.com/carto-setup/carto-setup/internal/check"
	"github.com/carto-setup/carto-setup/internal/wizard"
)

// BucketsDefaults are the buckets step's defaults: CARTO-managed buckets,
// thumbnails public.
func BucketsDefaults() wizard.BucketsInput {
	return wizard.BucketsInput{Mode: wizard.BucketsCartoManaged, Thumbnails: wizard.BucketInput{Public: true}}
}

// BucketsForm is the buckets step's input.
type BucketsForm struct {
	wizard.BucketsInput
}

// bucketsConfig is the checker's view of the input.
func bucketsConfig(in wizard.BucketsInput) buckets.Config {
	return buckets.Config{
		Provider:   in.Mode,
		Imports:    buckets.Bucket{Name: in.Imports.Name, Public: in.Imports.Public},
		Thumbnails: buckets.Bucket{Name: in.Thumbnails.Name, Public: in.Thumbnails.Public},
		GCS:        buckets.GCS{ProjectID: in.GCSProjectID, KeyJSON: []byte(in.GCSKeyJSON)},
		S3:         buckets.S3{Region: in.S3Region, AccessKeyID: in.S3AccessKeyID, SecretAccessKey: in.S3SecretAccessKey, Endpoint: in.S3Endpoint, ForcePathStyle: in.S3Endpoint != ""},
		Azure:      buckets.Azure{StorageAccount: in.AzureStorageAccount, AccessKey: in.AzureAccessKey},
	}
}

// Validate checks the choice and, for custom buckets, the names and the
// provider's credentials without any network call.
func (f BucketsForm) Validate() wizard.FieldErrors {
	errs := wizard.FieldErrors{}
	switch f.Mode {
	case wizard.BucketsCartoManaged:
	case wizard.BucketsGCS, wizard.BucketsS3, wizard.BucketsAzure:
		for field, msg := range buckets.Validate(bucketsConfig(f.BucketsInput)) {
			errs.Add(field, msg)
		}
	default:
		errs.Add(wizard.FieldBucketsMode, "Choose CARTO-managed buckets or one provider.")
	}
	return errs
}

// BucketsChecks runs the live round trip and CORS checks of custom buckets;
// CARTO-managed ones need none. The smoke test runs them again.
func (s *Steps) BucketsChecks(ctx context.Context, in wizard.BucketsInput) []check.Result {
	if in.Mode == "" || in.Mode == wizard.BucketsCartoManaged {
		return []check.Result{buckets.CartoManaged()}
	}
	return s.d.Buckets.Check(ctx, bucketsConfig(in))
}

// Buckets validates and checks the buckets and saves them with the run; a
// changed input clears the step's done mark. The settings of the providers
// not chosen are dropped, secrets first: a key typed for a provider the
// admin then left must not stay in the state or its exports.
func (s *Steps) Buckets(ctx context.Context, f BucketsForm) (Outcome, error) {
	if errs := f.Validate(); len(errs) > 0 {
		st, err := s.store.Load()
		return Outcome{State: st, Errors: errs}, err
	}
	in := f.BucketsInput.OnlyMode()
	run := wizard.NewCheckRun(s.d.Now(), s.BucketsChecks(ctx, in))
	st, errs, err := s.save(func(st *wizard.State) wizard.FieldErrors {
		record(st, wizard.Buckets, run, st.Buckets != in)
		st.Buckets = in
		return s.settle(st, wizard.Buckets, run)
	})
	return Outcome{State: st, Run: run, Errors: errs}, err
}

// CORSFix is the command and configuration that give one bucket the CORS
// rules CARTO needs.
type CORSFix struct {
	Bucket string
	Text   string
}

// CORSFixes returns a fix for every bucket whose CORS check did not pass.
func CORSFixes(in wizard.BucketsInput, run wizard.CheckRun) []CORSFix {
	var out []CORSFix
	for _, r := range run.Results {
		if strings.HasSuffix(r.ID, ".cors") && r.Status != check.Pass {
			bucket := in.Imports.Name
			if strings.Contains(r.ID, "thumbnails") {
				bucket = in.Thumbnails.Name
			}
			out = append(out, CORSFix{Bucket: bucket, Text: buckets.CORSFix(in.Mode, bucket)})
		}
	}
	return out
}
