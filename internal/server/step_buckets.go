package server

import (
	"errors"
	"net/http"
	"strings"

	"github.com/carto-setup/carto-setup/internal/steps"
	"github.com/carto-setup/carto-setup/internal/wizard"
	"github.com/carto-setup/carto-setup/web"
)

const maxBucketsUpload = maxCAUpload + 64<<10

func (d *Deps) bucketsView(st wizard.State, in wizard.BucketsInput, errs wizard.FieldErrors, checks web.ChecksView, held map[string]string) web.BucketsStepView {
	checks.Continue = true
	v := web.BucketsStepView{
		Progress: web.NewProgress(st, wizard.Buckets), Input: in, Errors: errs, Checks: checks,
		GCSKey: secretState(held["gcs_key"], st.Buckets.GCSKeyJSON), S3Secret: secretState(held["s3_secret"], st.Buckets.S3SecretAccessKey),
		AzureKey: secretState(held["azure_key"], st.Buckets.AzureAccessKey),
	}
	v.Input = withoutSecrets(wizard.State{Buckets: in}).Buckets // secrets never go back into the page
	for _, fix := range steps.CORSFixes(in, checks.Run) {
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
	run := st.Checks[wizard.Buckets]
	held := d.drafts.get(draftKey(r, wizard.Buckets), d.Now())
	return render(w, r, http.StatusOK, web.BucketsStep(d.bucketsView(st, in, nil, web.ChecksView{Run: run, Reasons: st.Reasons(run)}, held)))
}

// handleBucketsSubmit validates the buckets and runs the live round-trip and
// CORS checks ("test"), or also continues ("next"). A test that does not
// pass and a Continue that needs a reason save nothing (422); the keys
// typed for the form are held for it.
func (d *Deps) handleBucketsSubmit(w http.ResponseWriter, r *http.Request) error {
	st, err := d.Store.Load()
	if err != nil {
		return err
	}
	key := draftKey(r, wizard.Buckets)
	held := d.drafts.get(key, d.Now())
	r.Body = http.MaxBytesReader(w, r.Body, maxBucketsUpload)
	if err := r.ParseMultipartForm(maxBucketsUpload); err != nil {
		msg := "The form could not be read. Try again."
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			msg = "The upload is too large: a service-account key is a JSON file of a few kilobytes."
		}
		return render(w, r, http.StatusUnprocessableEntity, web.BucketsStep(d.bucketsView(st, st.Buckets, wizard.FieldErrors{"gcs_key": msg}, web.ChecksView{}, held)))
	}
	defer r.MultipartForm.RemoveAll()
	f := func(name string) string { return strings.TrimSpace(r.FormValue(name)) }
	typed := map[string]string{}
	errs := wizard.FieldErrors{}
	secret := func(name, saved string) string {
		if v := r.FormValue(name); v != "" {
			typed[name] = v
			return v
		}
		if v := held[name]; v != "" {
			typed[name] = v
			return v
		}
		return saved
	}
	gcsKey := secret("gcs_key", st.Buckets.GCSKeyJSON)
	if k, ok := uploaded(r, "gcs_key", errs); ok {
		gcsKey, typed["gcs_key"] = k, k
	}
	in := wizard.BucketsInput{
		Mode:         f("buckets_mode"),
		Imports:      wizard.BucketInput{Name: f("imports_bucket"), Public: r.FormValue("imports_public") == "on"},
		Thumbnails:   wizard.BucketInput{Name: f("thumbnails_bucket"), Public: r.FormValue("thumbnails_public") == "on"},
		GCSProjectID: f("gcs_project_id"), GCSKeyJSON: gcsKey,
		S3Region: f("s3_region"), S3AccessKeyID: f("s3_access_key_id"), S3SecretAccessKey: secret("s3_secret", st.Buckets.S3SecretAccessKey), S3Endpoint: f("s3_endpoint"),
		AzureStorageAccount: f("azure_account"), AzureAccessKey: secret("azure_key", st.Buckets.AzureAccessKey),
	}
	reasons := formReasons(r)
	rerender := func(status int, errs wizard.FieldErrors, checks web.ChecksView) error {
		saved := map[string]string{"gcs_key": st.Buckets.GCSKeyJSON, "s3_secret": st.Buckets.S3SecretAccessKey, "azure_key": st.Buckets.AzureAccessKey}
		unsaved := map[string]string{}
		for k, v := range typed {
			if v != saved[k] {
				unsaved[k] = v
			}
		}
		d.drafts.hold(key, unsaved, d.Now())
		checks.Reasons = reasons
		return render(w, r, status, web.BucketsStep(d.bucketsView(st, in, errs, checks, unsaved)))
	}
	if len(errs) > 0 {
		return rerender(http.StatusUnprocessableEntity, errs, web.ChecksView{})
	}
	s := d.Steps.Continuing(reasons)
	if r.FormValue("action") == "test" {
		s = d.Steps.Testing()
	}
	out, err := s.Buckets(r.Context(), steps.BucketsForm{BucketsInput: in})
	if err != nil {
		return err
	}
	st = out.State
	switch {
	case out.Refused() && len(out.Run.Results) == 0:
		return rerender(http.StatusUnprocessableEntity, out.Errors, web.ChecksView{})
	case out.Refused() && r.FormValue("action") == "test":
		return rerender(http.StatusUnprocessableEntity, steps.FailedFields(out.Run.Results), web.ChecksView{Run: out.Run})
	case out.Refused():
		return rerender(http.StatusUnprocessableEntity, nil, web.ChecksView{Run: out.Run, Errors: out.Errors})
	}
	d.drafts.drop(key)
	if r.FormValue("action") == "test" {
		return render(w, r, http.StatusOK, web.BucketsStep(d.bucketsView(st, st.Buckets, nil, web.ChecksView{Run: out.Run}, nil)))
	}
	return redirect(w, r, stepURL(wizard.Next(wizard.Buckets)))
}
