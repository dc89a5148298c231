package server

import (
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/carto-setup/carto-setup/internal/check"
	"github.com/carto-setup/carto-setup/internal/steps"
	"github.com/carto-setup/carto-setup/internal/wizard"
	"github.com/carto-setup/carto-setup/web"
)

const (
	maxCAUpload       = 1 << 20 // a CA bundle is a few kilobytes
	maxDatabaseUpload = 2*maxCAUpload + 64<<10
)

func (d *Deps) databaseView(st wizard.State, db wizard.DatabaseInput, cache wizard.CacheInput, errs wizard.FieldErrors, checks web.ChecksView, notice string) web.DatabaseStepView {
	v := web.DatabaseStepView{
		Progress: web.NewProgress(st, wizard.Database), Input: db, Cache: cache, Errors: errs, Checks: checks, Notice: notice,
		SavedAdminPassword: st.Database.AdminPassword != "", SavedWorkspacePassword: st.Database.WorkspacePassword != "",
		SavedCachePassword: st.Cache.Password != "", HasCA: db.CAPEM != "", HasCacheCA: cache.CAPEM != "",
	}
	// Secrets never go back into the page; the CA files are not secret
	// but are only said to be saved.
	blank := withoutSecrets(wizard.State{Database: db, Cache: cache})
	v.Input, v.Cache = blank.Database, blank.Cache
	v.Input.CAPEM, v.Cache.CAPEM = "", ""
	return v
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
	return render(w, r, http.StatusOK, web.DatabaseStep(d.databaseView(st, db, cache, nil, web.ChecksView{Run: st.Checks[wizard.Database]}, "")))
}

// readDatabaseForm reads the form over the saved values: a blank password
// or no uploaded CA keeps what is saved.
func readDatabaseForm(r *http.Request, st wizard.State) (wizard.DatabaseInput, wizard.CacheInput, wizard.FieldErrors) {
	errs := wizard.FieldErrors{}
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
	keep := func(typed, saved string) string {
		if typed == "" {
			return saved
		}
		return typed
	}
	db := wizard.DatabaseInput{
		Mode: f("db_mode"), Host: f("host"), Port: port("port"), AdminUser: f("admin_user"),
		AdminPassword: keep(r.FormValue("admin_password"), st.Database.AdminPassword), AdminDatabase: f("admin_database"),
		WorkspaceUser: f("workspace_user"), WorkspacePassword: keep(r.FormValue("workspace_password"), st.Database.WorkspacePassword),
		WorkspaceDatabase: f("workspace_database"), SSL: r.FormValue("ssl") == "on", SSLMode: f("ssl_mode"), CAPEM: st.Database.CAPEM,
	}
	cache := wizard.CacheInput{
		Mode: f("cache_mode"), Host: f("cache_host"), Port: port("cache_port"),
		Password: keep(r.FormValue("cache_password"), st.Cache.Password), TLS: r.FormValue("cache_tls") == "on", CAPEM: st.Cache.CAPEM,
	}
	if ca, ok := uploaded(r, "ca", errs); ok {
		db.CAPEM = ca
	}
	if ca, ok := uploaded(r, "cache_ca", errs); ok {
		cache.CAPEM = ca
	}
	return db, cache, errs
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
// workspace password ("generate"), or checks and continues ("next").
func (d *Deps) handleDatabaseSubmit(w http.ResponseWriter, r *http.Request) error {
	st, err := d.Store.Load()
	if err != nil {
		return err
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxDatabaseUpload)
	if err := r.ParseMultipartForm(maxDatabaseUpload); err != nil {
		db, cache := databaseDefaults(st)
		msg := "The form could not be read. Try again."
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			msg = "The upload is too large: a CA certificate is a PEM file of a few kilobytes."
		}
		return render(w, r, http.StatusUnprocessableEntity, web.DatabaseStep(d.databaseView(st, db, cache, wizard.FieldErrors{"ca": msg}, web.ChecksView{}, "")))
	}
	defer r.MultipartForm.RemoveAll()
	db, cache, errs := readDatabaseForm(r, st)
	rerender := func(status int, errs wizard.FieldErrors, checks web.ChecksView, notice string) error {
		return render(w, r, status, web.DatabaseStep(d.databaseView(st, db, cache, errs, checks, notice)))
	}
	if r.FormValue("action") == "generate" {
		if st, err = d.Steps.GenerateWorkspacePassword(); err != nil {
			return err
		}
		return rerender(http.StatusOK, errs, web.ChecksView{}, "A strong workspace password was generated and saved. It is not shown: CARTO uses it internally.")
	}
	if len(errs) > 0 {
		return rerender(http.StatusUnprocessableEntity, errs, web.ChecksView{}, "")
	}
	out, err := d.Steps.Database(r.Context(), steps.DatabaseForm{DB: &db, Cache: &cache})
	if err != nil {
		return err
	}
	st = out.State
	if out.Refused() {
		return rerender(http.StatusUnprocessableEntity, out.Errors, web.ChecksView{}, "")
	}
	if r.FormValue("action") == "test" {
		status := http.StatusOK
		if check.Failed(storedResults(out.Run)) {
			status = http.StatusUnprocessableEntity
		}
		return rerender(status, steps.FailedFields(out.Run.Results), web.ChecksView{Run: out.Run}, "")
	}
	return d.continueStep(w, r, wizard.Database, func(st wizard.State, v web.ChecksView) error {
		return render(w, r, http.StatusUnprocessableEntity, web.DatabaseStep(d.databaseView(st, db, cache, nil, v, "")))
	})
}

// storedResults unwraps a stored run's results.
func storedResults(run wizard.CheckRun) []check.Result {
	out := make([]check.Result, len(run.Results))
	for i, r := range run.Results {
		out[i] = r.Result
	}
	return out
}
