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

// Draft names of the Advanced form's secrets; a secret further setting
// is held by its key.
const (
	draftMapsKey     = "google_maps_api_key"
	draftOAuthSecret = "bigquery_oauth_client_secret"
	draftExtraPrefix = "extra:"
)

// advancedView is the page's model of in; secrets never go back into it.
// held are the secrets typed on a refused attempt, kept for the form.
func advancedView(st wizard.State, in wizard.AdvancedInput, errs wizard.FieldErrors, checks web.ChecksView, held map[string]string) web.AdvancedStepView {
	saved := st.Advanced
	v := web.AdvancedStepView{Progress: web.NewProgress(st, wizard.Advanced), Input: in, Errors: errs, Checks: checks,
		MapsKey:     secretState(held[draftMapsKey], saved.GoogleMapsAPIKey),
		OAuthSecret: secretState(held[draftOAuthSecret], saved.BigQueryOAuthClientSecret)}
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
			row.Value, row.Kept = "", secretState(held[draftExtraPrefix+x.Key], savedExtra(saved, x.Key))
		}
		v.Rows = append(v.Rows, row)
	}
	for range advancedBlankRows {
		v.Rows = append(v.Rows, web.AdvancedRow{})
	}
	return v
}

// savedExtra is the saved value of the secret further setting key.
func savedExtra(saved wizard.AdvancedInput, key string) string {
	if j := slices.IndexFunc(saved.Extra, func(x wizard.AdvancedVar) bool { return x.Key == key && x.Secret }); j >= 0 {
		return saved.Extra[j].Value
	}
	return ""
}

// handleAdvancedForm shows the saved Advanced settings.
func (d *Deps) handleAdvancedForm(w http.ResponseWriter, r *http.Request) error {
	st, err := d.Store.Load()
	if err != nil {
		return err
	}
	held := d.drafts.get(draftKey(r, wizard.Advanced), d.Now())
	return render(w, r, http.StatusOK, web.AdvancedStep(advancedView(st, st.Advanced, nil, web.ChecksView{Run: st.Checks[wizard.Advanced]}, held)))
}

// readAdvancedForm reads the form over the saved settings: a blank secret
// keeps what this form holds from an earlier attempt, else the saved one
// (the Maps key unless its removal is ticked, the OAuth secret while a
// client ID is given, a secret further setting of the same key), and a
// row with neither key nor value is dropped. typed are the secrets given
// on this form (this request's, or held), to hold while unsaved.
func readAdvancedForm(r *http.Request, saved wizard.AdvancedInput, held map[string]string) (in wizard.AdvancedInput, typed map[string]string, errs wizard.FieldErrors) {
	f := func(name string) string { return strings.TrimSpace(r.FormValue(name)) }
	typed = map[string]string{}
	secret := func(name, value, saved string) string {
		if value == "" {
			value = held[name]
		}
		if value == "" {
			return saved
		}
		typed[name] = value
		return value
	}
	in = wizard.AdvancedInput{
		HTTPProxy: f("http_proxy"), HTTPSProxy: f("https_proxy"), GRPCProxy: f("grpc_proxy"), NoProxy: f("no_proxy"),
		ExtraCAPEM:            f("extra_ca_pem"),
		SkipTLSVerify:         r.FormValue("skip_tls_verify") == "on",
		GoogleMapsAPIKey:      secret(draftMapsKey, f("google_maps_api_key"), saved.GoogleMapsAPIKey),
		BigQueryOAuthClientID: f("bigquery_oauth_client_id"),
	}
	if r.FormValue("clear_google_maps_api_key") == "on" && f("google_maps_api_key") == "" {
		in.GoogleMapsAPIKey = ""
		delete(typed, draftMapsKey)
	}
	if in.BigQueryOAuthClientID != "" {
		in.BigQueryOAuthClientSecret = secret(draftOAuthSecret, f("bigquery_oauth_client_secret"), saved.BigQueryOAuthClientSecret)
	} else {
		in.BigQueryOAuthClientSecret = f("bigquery_oauth_client_secret")
	}
	errs = wizard.FieldErrors{}
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
		if v.Secret && v.Key != "" {
			v.Value = secret(draftExtraPrefix+v.Key, v.Value, savedExtra(saved, v.Key))
		}
		if v.Key == "" && v.Value == "" {
			continue
		}
		in.Extra = append(in.Extra, v)
	}
	return in, typed, errs
}

// handleAdvancedSubmit validates and saves the settings and runs their
// live checks ("test"), or also continues ("next").
func (d *Deps) handleAdvancedSubmit(w http.ResponseWriter, r *http.Request) error {
	st, err := d.Store.Load()
	if err != nil {
		return err
	}
	key := draftKey(r, wizard.Advanced)
	held := d.drafts.get(key, d.Now())
	r.Body = http.MaxBytesReader(w, r.Body, maxAdvancedUpload)
	if err := r.ParseMultipartForm(maxAdvancedUpload); err != nil {
		msg := "The form could not be read. Try again."
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			msg = "The form is too large: a CA bundle is a few kilobytes."
		}
		return render(w, r, http.StatusUnprocessableEntity, web.AdvancedStep(advancedView(st, st.Advanced, wizard.FieldErrors{"extra_ca_pem": msg}, web.ChecksView{}, held)))
	}
	defer r.MultipartForm.RemoveAll()
	in, typed, errs := readAdvancedForm(r, st.Advanced, held)
	// A refused form saves nothing: the secrets typed on it that are
	// not saved are held for the next attempt, never shown.
	rerender := func(st wizard.State, status int, errs wizard.FieldErrors, checks web.ChecksView) error {
		unsaved := map[string]string{}
		for name, v := range typed {
			if name == draftMapsKey && v != st.Advanced.GoogleMapsAPIKey ||
				name == draftOAuthSecret && v != st.Advanced.BigQueryOAuthClientSecret ||
				strings.HasPrefix(name, draftExtraPrefix) && v != savedExtra(st.Advanced, strings.TrimPrefix(name, draftExtraPrefix)) {
				unsaved[name] = v
			}
		}
		d.drafts.hold(key, unsaved, d.Now())
		return render(w, r, status, web.AdvancedStep(advancedView(st, in, errs, checks, unsaved)))
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
	d.drafts.drop(key)
	if r.FormValue("action") == "test" {
		return rerender(out.State, http.StatusOK, nil, web.ChecksView{Run: out.Run})
	}
	return redirect(w, r, stepURL(wizard.Next(wizard.Advanced)))
}
