package server

import (
	"errors"
	"net/http"
	"strings"

	"github.com/carto-setup/carto-setup/internal/check"
	"github.com/carto-setup/carto-setup/internal/steps"
	"github.com/carto-setup/carto-setup/internal/wizard"
	"github.com/carto-setup/carto-setup/web"
)

const maxBucketsUpload = maxCAUpload + 64<<10

func (d *Deps) bucketsView(st wizard.State, in wizard.BucketsInput, errs wizard.FieldErrors, run wizard.CheckRun) web.BucketsStepView {
	v := web.BucketsStepView{
		Progress: web.NewProgress(st, wizard.Buckets), Input: in, Errors: errs, Checks: web.ChecksView{Run: run},
		SavedGCSKey: st.Buckets.GCSKeyJSON != "", SavedS3Secret: st.Buckets.S3SecretAccessKey != "", SavedAzureKey: st.Buckets.AzureAccessKey != "",
	}
	v.Input = withoutSecrets(wizard.State{Buckets: in}).Buckets // secrets never go back into the page
	for _, fix := range steps.CORSFixes(in, run) {
		v.Fixes = append(v.Fixes, web.CORSFix{Bucket: fix.Bucket, Text: fix.Text})
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
		in = steps.BucketsDefaults()
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
	if len(errs) > 0 {
		return rerender(http.StatusUnprocessableEntity, errs, wizard.CheckRun{})
	}
	out, err := d.Steps.Buckets(r.Context(), steps.BucketsForm{BucketsInput: in})
	if err != nil {
		return err
	}
	st = out.State
	if out.Refused() {
		return rerender(http.StatusUnprocessableEntity, out.Errors, wizard.CheckRun{})
	}
	if r.FormValue("action") == "test" {
		status := http.StatusOK
		if check.Failed(storedResults(out.Run)) {
			status = http.StatusUnprocessableEntity
		}
		return rerender(status, steps.FailedFields(out.Run.Results), out.Run)
	}
	return d.continueStep(w, r, wizard.Buckets, func(st wizard.State, v web.ChecksView) error {
		view := d.bucketsView(st, in, nil, v.Run)
		view.Checks = v
		return render(w, r, http.StatusUnprocessableEntity, web.BucketsStep(view))
	})
}
