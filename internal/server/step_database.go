package server

import (
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/carto-setup/carto-setup/internal/steps"
	"github.com/carto-setup/carto-setup/internal/wizard"
	"github.com/carto-setup/carto-setup/web"
)

const (
	maxCAUpload       = 1 << 20 // a CA bundle is a few kilobytes
	maxDatabaseUpload = 2*maxCAUpload + 64<<10
)

func (d *Deps) databaseView(st wizard.State, db wizard.DatabaseInput, cache wizard.CacheInput, errs wizard.FieldErrors, checks web.ChecksView, notice string, held map[string]string) web.DatabaseStepView {
	checks.Continue = true
	v := web.DatabaseStepView{
		Progress: web.NewProgress(st, wizard.Database), Input: db, Cache: cache, Errors: errs, Checks: checks, Notice: notice,
		AdminPassword:     secretState(held["admin_password"], st.Database.AdminPassword),
		WorkspacePassword: secretState(held["workspace_password"], st.Database.WorkspacePassword),
		CachePassword:     secretState(held["cache_password"], st.Cache.Password),
		CA:                secretState(held["ca"], st.Database.CAPEM), CacheCA: secretState(held["cache_ca"], st.Cache.CAPEM),
	}
	// Secrets never go back into the page; the CA files are not secret
	// but are only said to be saved.
	blank := withoutSecrets(wizard.State{Database: db, Cache: cache})
	v.Input, v.Cache = blank.Database, blank.Cache
	v.Input.CAPEM, v.Cache.CAPEM = "", ""
	return v
}

// secretState says what a secret field holds for the page: a value typed
// on this form but not saved yet, a saved one, or none.
func secretState(held, saved string) web.Secret {
	switch {
	case held != "":
		return web.SecretHeld
	case saved != "":
		return web.SecretSaved
	}
	return web.SecretNone
}

// databaseDefaults are the saved settings, or the steps' defaults on a
// first visit.
func databaseDefaults(st wizard.State) (wizard.DatabaseInput, wizard.CacheInput) {
	db, cache := st.Database, st.Cache
	if db.Mode == "" {
		db = steps.DatabaseDefaults()
	}
	if cache.Mode == "" {
		cache = steps.CacheDefaults()
	}
	return db, cache
}

// handleDatabaseForm shows the saved database and cache settings.
func (d *Deps) handleDatabaseForm(w http.ResponseWriter, r *http.Request) error {
	st, err := d.Store.Load()
	if err != nil {
		return err
	}
	db, cache := databaseDefaults(st)
	run := st.Checks[wizard.Database]
	held := d.drafts.get(draftKey(r, wizard.Database), d.Now())
	return render(w, r, http.StatusOK, web.DatabaseStep(d.databaseView(st, db, cache, nil, web.ChecksView{Run: run, Reasons: st.Reasons(run)}, "", held)))
}

// readDatabaseForm reads the form over the saved values: a blank password
// or no uploaded CA keeps what this form holds from an earlier attempt,
// else what is saved. typed are the secrets and files given on this form
// (this request's, or held from an earlier one), to hold while unsaved.
func readDatabaseForm(r *http.Request, st wizard.State, held map[string]string) (db wizard.DatabaseInput, cache wizard.CacheInput, typed map[string]string, errs wizard.FieldErrors) {
	errs = wizard.FieldErrors{}
	typed = map[string]string{}
	f := func(name string) string { return strings.TrimSpace(r.FormValue(name)) }
	port := func(name string) int {
		s := f(name)
		if s == "" {
			return 0
		}
		p, err := strconv.Atoi(s)
		if err != nil || p < 1 || p > 65535 {
			errs.Add(name, "Enter a port between 1 and 65535.")
			return 0
		}
		return p
	}
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
	file := func(name, saved string) string {
		if v, ok := uploaded(r, name, errs); ok {
			typed[name] = v
			return v
		}
		return secret(name, saved) // held from an earlier attempt, or saved
	}
	db = wizard.DatabaseInput{
		Mode: f("db_mode"), Host: f("host"), Port: port("port"), AdminUser: f("admin_user"),
		AdminPassword: secret("admin_password", st.Database.AdminPassword), AdminDatabase: f("admin_database"),
		WorkspaceUser: f("workspace_user"), WorkspacePassword: secret("workspace_password", st.Database.WorkspacePassword),
		WorkspaceDatabase: f("workspace_database"), SSL: r.FormValue("ssl") == "on", SSLMode: f("ssl_mode"),
	}
	cache = wizard.CacheInput{
		Mode: f("cache_mode"), Host: f("cache_host"), Port: port("cache_port"),
		Password: secret("cache_password", st.Cache.Password), TLS: r.FormValue("cache_tls") == "on",
	}
	db.CAPEM = file("ca", st.Database.CAPEM)
	cache.CAPEM = file("cache_ca", st.Cache.CAPEM)
	return db, cache, typed, errs
}

// uploaded reads an optional uploaded text file of at most maxCAUpload.
func uploaded(r *http.Request, name string, errs wizard.FieldErrors) (string, bool) {
	fhs := r.MultipartForm.File[name]
	if len(fhs) == 0 || fhs[0].Size == 0 {
		return "", false
	}
	if fhs[0].Size > maxCAUpload {
		errs.Add(name, "This file is too large for a CA certificate (at most 1 MB). Upload the PEM file of the CA.")
		return "", false
	}
	fh, err := fhs[0].Open()
	if err != nil {
		errs.Add(name, "The file could not be read. Upload it again.")
		return "", false
	}
	defer fh.Close()
	b, err := io.ReadAll(io.LimitReader(fh, maxCAUpload))
	if err != nil {
		errs.Add(name, "The file could not be read. Upload it again.")
		return "", false
	}
	return string(b), true
}

// handleDatabaseSubmit tests the connections ("test"), generates a
// workspace password ("generate"), or checks and continues ("next"). A
// test that does not pass and a Continue that needs a reason save nothing
// (422); the secrets and files typed for the form are held for it, so the
// admin need not type them again.
func (d *Deps) handleDatabaseSubmit(w http.ResponseWriter, r *http.Request) error {
	st, err := d.Store.Load()
	if err != nil {
		return err
	}
	key := draftKey(r, wizard.Database)
	held := d.drafts.get(key, d.Now())
	r.Body = http.MaxBytesReader(w, r.Body, maxDatabaseUpload)
	if err := r.ParseMultipartForm(maxDatabaseUpload); err != nil {
		db, cache := databaseDefaults(st)
		msg := "The form could not be read. Try again."
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			msg = "The upload is too large: a CA certificate is a PEM file of a few kilobytes."
		}
		return render(w, r, http.StatusUnprocessableEntity, web.DatabaseStep(d.databaseView(st, db, cache, wizard.FieldErrors{"ca": msg}, web.ChecksView{}, "", held)))
	}
	defer r.MultipartForm.RemoveAll()
	db, cache, typed, errs := readDatabaseForm(r, st, held)
	reasons := formReasons(r)
	// rerender shows the form as typed; what was typed and not saved is
	// held for it.
	rerender := func(status int, errs wizard.FieldErrors, checks web.ChecksView, notice string) error {
		unsaved := map[string]string{}
		for k, v := range typed {
			if saved := savedDatabaseSecret(st, k); v != saved {
				unsaved[k] = v
			}
		}
		d.drafts.hold(key, unsaved, d.Now())
		checks.Reasons = reasons
		return render(w, r, status, web.DatabaseStep(d.databaseView(st, db, cache, errs, checks, notice, unsaved)))
	}
	if r.FormValue("action") == "generate" {
		if st, err = d.Steps.GenerateWorkspacePassword(); err != nil {
			return err
		}
		delete(typed, "workspace_password")
		return rerender(http.StatusOK, errs, web.ChecksView{}, "A strong workspace password was generated and saved. It is not shown: CARTO uses it internally. The other fields are as you typed them; save them with Test connections or Continue.")
	}
	if len(errs) > 0 {
		return rerender(http.StatusUnprocessableEntity, errs, web.ChecksView{}, "")
	}
	s := d.Steps.Continuing(reasons)
	if r.FormValue("action") == "test" {
		s = d.Steps.Testing()
	}
	out, err := s.Database(r.Context(), steps.DatabaseForm{DB: &db, Cache: &cache})
	if err != nil {
		return err
	}
	st = out.State
	switch {
	case out.Refused() && len(out.Run.Results) == 0:
		return rerender(http.StatusUnprocessableEntity, out.Errors, web.ChecksView{}, "")
	case out.Refused() && r.FormValue("action") == "test":
		return rerender(http.StatusUnprocessableEntity, steps.FailedFields(out.Run.Results), web.ChecksView{Run: out.Run}, "")
	case out.Refused():
		return rerender(http.StatusUnprocessableEntity, nil, web.ChecksView{Run: out.Run, Errors: out.Errors}, "")
	}
	d.drafts.drop(key)
	if r.FormValue("action") == "test" {
		return render(w, r, http.StatusOK, web.DatabaseStep(d.databaseView(st, db, cache, nil, web.ChecksView{Run: out.Run}, "The connections work; the settings are saved.", nil)))
	}
	return redirect(w, r, stepURL(wizard.Next(wizard.Database)))
}

// savedDatabaseSecret is the saved value of a secret field of the page.
func savedDatabaseSecret(st wizard.State, field string) string {
	switch field {
	case "admin_password":
		return st.Database.AdminPassword
	case "workspace_password":
		return st.Database.WorkspacePassword
	case "cache_password":
		return st.Cache.Password
	case "ca":
		return st.Database.CAPEM
	case "cache_ca":
		return st.Cache.CAPEM
	}
	return ""
}
