package server

import (
	"errors"
	"github.com/carto-setup/carto-setup/internal/buckets"
	"net/http"
	"strings"

	"github.com/carto-setup/carto-setup/internal/check"
	"github.com/carto-setup/carto-setup/internal/wizard"
	"github.com/carto-setup/carto-setup/web"
)

const maxBucketsUpload = maxCAUpload + 64<<10

func (d *Deps) bucketsView(st wizard.State, in wizard.BucketsInput, errs wizard.FieldErrors, run wizard.CheckRun) web.BucketsStepView {
	v := web.BucketsStepView{
		Progress: web.NewProgress(st, wizard.Buckets), Input: in, Errors: errs, Checks: web.ChecksView{Run: run},
		SavedGCSKey: st.Buckets.GCSKeyJSON != "", SavedS3Secret: st.Buckets.S3SecretAccessKey != "", SavedAzureKey: st.Buckets.AzureAccessKey != "",
	}
	v.Input.GCSKeyJSON, v.Input.S3SecretAccessKey, v.Input.AzureAccessKey = "", "", ""
	for _, r := range run.Results {
		if strings.HasSuffix(r.ID, ".cors") && r.Status != check.Pass && d.Checks.CORSFix != nil {
			bucket := in.Imports.Name
			if strings.Contains(r.ID, "thumbnails") {
				bucket = in.Thumbnails.Name
			}
			v.Fixes = append(v.Fixes, web.CORSFix{Bucket: bucket, Text: d.Checks.CORSFix(in, bucket)})
		}
	}
	return v
}

// handleBucketsForm shows the saved bucket settings.
func (d *Deps) handleBucketsForm(w http.ResponseWriter, r *http.Request) error {
	st, err := d.Store.Load()
	if err != nil {
		return err
	}
	in := st.Buckets
	if in.Mode == "" {
		in = wizard.BucketsInput{Mode: wizard.BucketsCartoManaged, Thumbnails: wizard.BucketInput{Public: true}}
	}
	return render(w, r, http.StatusOK, web.BucketsStep(d.bucketsView(st, in, nil, st.Checks[wizard.Buckets])))
}

// handleBucketsSubmit validates the buckets and runs the live round-trip and
// CORS checks ("test"), or also continues ("next").
func (d *Deps) handleBucketsSubmit(w http.ResponseWriter, r *http.Request) error {
	st, err := d.Store.Load()
	if err != nil {
		return err
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxBucketsUpload)
	if err := r.ParseMultipartForm(maxBucketsUpload); err != nil {
		msg := "The form could not be read. Try again."
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			msg = "The upload is too large: a service-account key is a JSON file of a few kilobytes."
		}
		return render(w, r, http.StatusUnprocessableEntity, web.BucketsStep(d.bucketsView(st, st.Buckets, wizard.FieldErrors{"gcs_key": msg}, wizard.CheckRun{})))
	}
	defer r.MultipartForm.RemoveAll()
	f := func(name string) string { return strings.TrimSpace(r.FormValue(name)) }
	keep := func(typed, saved string) string {
		if typed == "" {
			return saved
		}
		return typed
	}
	in := wizard.BucketsInput{
		Mode:         f("buckets_mode"),
		Imports:      wizard.BucketInput{Name: f("imports_bucket"), Public: r.FormValue("imports_public") == "on"},
		Thumbnails:   wizard.BucketInput{Name: f("thumbnails_bucket"), Public: r.FormValue("thumbnails_public") == "on"},
		GCSProjectID: f("gcs_project_id"), GCSKeyJSON: st.Buckets.GCSKeyJSON,
		S3Region: f("s3_region"), S3AccessKeyID: f("s3_access_key_id"), S3SecretAccessKey: keep(r.FormValue("s3_secret"), st.Buckets.S3SecretAccessKey), S3Endpoint: f("s3_endpoint"),
		AzureStorageAccount: f("azure_account"), AzureAccessKey: keep(r.FormValue("azure_key"), st.Buckets.AzureAccessKey),
	}
	errs := wizard.FieldErrors{}
	if key, ok := uploaded(r, "gcs_key", errs); ok {
		in.GCSKeyJSON = key
	}
	rerender := func(status int, errs wizard.FieldErrors, run wizard.CheckRun) error {
		return render(w, r, status, web.BucketsStep(d.bucketsView(st, in, errs, run)))
	}
	var results []check.Result
	switch in.Mode {
	case wizard.BucketsCartoManaged:
		results = []check.Result{buckets.CartoManaged()}
	case wizard.BucketsGCS, wizard.BucketsS3, wizard.BucketsAzure:
		for field, msg := range d.Checks.ValidateBuckets(in) {
			errs.Add(field, msg)
		}
		if len(errs) > 0 {
			return rerender(http.StatusUnprocessableEntity, errs, wizard.CheckRun{})
		}
		results = d.Checks.Buckets(r.Context(), in)
	default:
		errs.Add("buckets_mode", "Choose CARTO-managed buckets or one provider.")
	}
	if len(errs) > 0 {
		return rerender(http.StatusUnprocessableEntity, errs, wizard.CheckRun{})
	}
	run := wizard.NewCheckRun(d.Now(), results)
	if st, err = d.Store.Update(func(s *wizard.State) error {
		if s.Buckets != in {
			delete(s.Done, wizard.Buckets)
		}
		s.Buckets = in
		s.SetChecks(wizard.Buckets, run)
		return nil
	}); err != nil {
		return err
	}
	if r.FormValue("action") == "test" {
		for _, res := range results {
			if (res.Status == check.Fail || res.Status == check.Error) && res.Field != "" {
				errs.Add(res.Field, res.Message)
			}
		}
		status := http.StatusOK
		if check.Failed(results) {
			status = http.StatusUnprocessableEntity
		}
		return rerender(status, errs, run)
	}
	return d.continueStep(w, r, wizard.Buckets, func(st wizard.State, v web.ChecksView) error {
		view := d.bucketsView(st, in, nil, v.Run)
		view.Checks = v
		return render(w, r, http.StatusUnprocessableEntity, web.BucketsStep(view))
	})
}
