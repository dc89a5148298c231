package server

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/carto-setup/carto-setup/internal/steps"
	"github.com/carto-setup/carto-setup/internal/wizard"
	"github.com/carto-setup/carto-setup/web"
)

// maxAdvancedUpload bounds the Advanced form: a CA bundle (pasted and as a
// file) and a hundred further settings.
const maxAdvancedUpload = 2*maxCAUpload + 256<<10

// advancedBlankRows is how many empty further-setting rows the page offers
// (more after each save; no script needed).
const advancedBlankRows = 3

// advancedView is the page's model of in; secrets never go back into it.
func advancedView(st wizard.State, in wizard.AdvancedInput, errs wizard.FieldErrors, checks web.ChecksView) web.AdvancedStepView {
	v := web.AdvancedStepView{Progress: web.NewProgress(st, wizard.Advanced), Input: in, Errors: errs, Checks: checks,
		SavedMapsKey: in.GoogleMapsAPIKey != "", SavedOAuthSecret: in.BigQueryOAuthClientSecret != ""}
	v.Input.GoogleMapsAPIKey, v.Input.BigQueryOAuthClientSecret, v.Input.Extra = "", "", nil
	// A proxy URL typed with a user and password (refused) loses them.
	for _, p := range []*string{&v.Input.HTTPProxy, &v.Input.HTTPSProxy, &v.Input.GRPCProxy} {
		if u, err := url.Parse(*p); err == nil && u.User != nil {
			u.User = nil
			*p = u.String()
		}
	}
	for _, x := range in.Extra {
		row := web.AdvancedRow{Key: x.Key, Value: x.Value, Secret: x.Secret}
		if x.Secret {
			row.Value, row.Saved = "", x.Value != ""
		}
		v.Rows = append(v.Rows, row)
	}
	for range advancedBlankRows {
		v.Rows = append(v.Rows, web.AdvancedRow{})
	}
	return v
}

// handleAdvancedForm shows the saved Advanced settings.
func (d *Deps) handleAdvancedForm(w http.ResponseWriter, r *http.Request) error {
	st, err := d.Store.Load()
	if err != nil {
		return err
	}
	return render(w, r, http.StatusOK, web.AdvancedStep(advancedView(st, st.Advanced, nil, web.ChecksView{Run: st.Checks[wizard.Advanced]})))
}

// readAdvancedForm reads the form over the saved settings: a blank secret
// keeps the saved one (the Maps key unless its removal is ticked, the
// OAuth secret while a client ID is given, a secret further setting of
// the same key), and a row with neither key nor value is dropped.
func readAdvancedForm(r *http.Request, saved wizard.AdvancedInput) (wizard.AdvancedInput, wizard.FieldErrors) {
	f := func(name string) string { return strings.TrimSpace(r.FormValue(name)) }
	keep := func(typed, saved string) string {
		if typed == "" {
			return saved
		}
		return typed
	}
	in := wizard.AdvancedInput{
		HTTPProxy: f("http_proxy"), HTTPSProxy: f("https_proxy"), GRPCProxy: f("grpc_proxy"), NoProxy: f("no_proxy"),
		ExtraCAPEM:            f("extra_ca_pem"),
		SkipTLSVerify:         r.FormValue("skip_tls_verify") == "on",
		GoogleMapsAPIKey:      keep(f("google_maps_api_key"), saved.GoogleMapsAPIKey),
		BigQueryOAuthClientID: f("bigquery_oauth_client_id"),
	}
	if r.FormValue("clear_google_maps_api_key") == "on" && f("google_maps_api_key") == "" {
		in.GoogleMapsAPIKey = ""
	}
	if in.BigQueryOAuthClientID != "" {
		in.BigQueryOAuthClientSecret = keep(f("bigquery_oauth_client_secret"), saved.BigQueryOAuthClientSecret)
	} else {
		in.BigQueryOAuthClientSecret = f("bigquery_oauth_client_secret")
	}
	errs := wizard.FieldErrors{}
	if ca, ok := uploaded(r, "extra_ca_file", errs); ok {
		in.ExtraCAPEM = ca
	}
	if msg, ok := errs["extra_ca_file"]; ok {
		delete(errs, "extra_ca_file")
		errs.Add("extra_ca_pem", msg)
	}
	for i := 0; ; i++ {
		name := "extra." + strconv.Itoa(i)
		if _, ok := r.MultipartForm.Value[name+".key"]; !ok {
			break
		}
		v := wizard.AdvancedVar{Key: f(name + ".key"), Value: r.FormValue(name + ".value"), Secret: r.FormValue(name+".secret") == "on"}
		if v.Secret && v.Value == "" {
			if j := slices.IndexFunc(saved.Extra, func(x wizard.AdvancedVar) bool { return x.Key == v.Key && x.Secret }); j >= 0 {
				v.Value = saved.Extra[j].Value
			}
		}
		if v.Key == "" && v.Value == "" {
			continue
		}
		in.Extra = append(in.Extra, v)
	}
	return in, errs
}

// handleAdvancedSubmit validates and saves the settings and runs their
// live checks ("test"), or also continues ("next").
func (d *Deps) handleAdvancedSubmit(w http.ResponseWriter, r *http.Request) error {
	st, err := d.Store.Load()
	if err != nil {
		return err
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxAdvancedUpload)
	if err := r.ParseMultipartForm(maxAdvancedUpload); err != nil {
		msg := "The form could not be read. Try again."
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			msg = "The form is too large: a CA bundle is a few kilobytes."
		}
		return render(w, r, http.StatusUnprocessableEntity, web.AdvancedStep(advancedView(st, st.Advanced, wizard.FieldErrors{"extra_ca_pem": msg}, web.ChecksView{})))
	}
	defer r.MultipartForm.RemoveAll()
	in, errs := readAdvancedForm(r, st.Advanced)
	rerender := func(st wizard.State, status int, errs wizard.FieldErrors, checks web.ChecksView) error {
		return render(w, r, status, web.AdvancedStep(advancedView(st, in, errs, checks)))
	}
	if len(errs) > 0 {
		return rerender(st, http.StatusUnprocessableEntity, errs, web.ChecksView{})
	}
	s := d.Steps.Continuing(formReasons(r))
	if r.FormValue("action") == "test" {
		s = d.Steps.Testing()
	}
	out, err := s.Advanced(r.Context(), steps.AdvancedForm{AdvancedInput: in})
	if err != nil {
		return err
	}
	switch {
	case out.Refused() && len(out.Run.Results) == 0:
		return rerender(out.State, http.StatusUnprocessableEntity, out.Errors, web.ChecksView{})
	case out.Refused() && r.FormValue("action") == "test":
		return rerender(out.State, http.StatusUnprocessableEntity, steps.FailedFields(out.Run.Results), web.ChecksView{Run: out.Run})
	case out.Refused():
		return rerender(out.State, http.StatusUnprocessableEntity, nil, web.ChecksView{Run: out.Run, Errors: out.Errors, Continue: true})
	}
	if r.FormValue("action") == "test" {
		return rerender(out.State, http.StatusOK, nil, web.ChecksView{Run: out.Run})
	}
	return redirect(w, r, stepURL(wizard.Next(wizard.Advanced)))
}
