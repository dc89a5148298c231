package server

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/carto-setup/carto-setup/internal/check"
	"github.com/carto-setup/carto-setup/internal/custpkg"
	"github.com/carto-setup/carto-setup/internal/wizard"
	"github.com/carto-setup/carto-setup/web"
)

// maxPackageUpload bounds the whole upload request: a zip of at most
// custpkg.MaxZipSize plus form overhead.
const maxPackageUpload = custpkg.MaxZipSize + 1<<20

func (d *Deps) release() custpkg.Release {
	read := func(name string) string {
		b, _ := os.ReadFile(filepath.Join(d.ReleaseDir, name))
		return strings.TrimSpace(string(b))
	}
	return custpkg.Release{Version: read("VERSION"), MinVersion: read("MIN_VERSION")}
}

func (d *Deps) packageView(st wizard.State, errs wizard.FieldErrors, checks web.ChecksView) web.PackageStepView {
	rel := d.release()
	return web.PackageStepView{
		Progress: web.NewProgress(st, wizard.Package), Errors: errs, Checks: checks,
		Summary: st.Package.Summary, Uploaded: st.Package.CustomerEnv != "",
		Release: rel.Version, Min: rel.MinVersion,
	}
}

// handlePackageForm shows the upload form and, once uploaded, the summary.
func (d *Deps) handlePackageForm(w http.ResponseWriter, r *http.Request) error {
	st, err := d.Store.Load()
	if err != nil {
		return err
	}
	return render(w, r, http.StatusOK, web.PackageStep(d.packageView(st, nil, web.ChecksView{Run: st.Checks[wizard.Package]})))
}

// handlePackageSubmit validates an uploaded package and keeps it in the
// state; a package that fails any check is refused and nothing is stored.
func (d *Deps) handlePackageSubmit(w http.ResponseWriter, r *http.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, maxPackageUpload)
	if err := r.ParseMultipartForm(maxPackageUpload); err != nil {
		st, lerr := d.Store.Load()
		if lerr != nil {
			return lerr
		}
		msg := "The upload could not be read. Try again."
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			msg = "The upload is too large: a customer package is a zip of a few kilobytes."
		}
		return render(w, r, http.StatusUnprocessableEntity, web.PackageStep(d.packageView(st, wizard.FieldErrors{"zip": msg}, web.ChecksView{})))
	}
	defer r.MultipartForm.RemoveAll()
	if r.FormValue("action") == "next" && !hasUpload(r) {
		return d.continueStep(w, r, wizard.Package, func(st wizard.State, v web.ChecksView) error {
			return render(w, r, http.StatusUnprocessableEntity, web.PackageStep(d.packageView(st, nil, v)))
		})
	}

	st, err := d.Store.Load()
	if err != nil {
		return err
	}
	var (
		files   custpkg.Files
		results []check.Result
		sum     custpkg.Summary
	)
	zipData, zipOK := formFile(r, "zip")
	envData, envOK := formFile(r, "customer_env")
	keyData, keyOK := formFile(r, "key_json")
	switch {
	case zipOK:
		files, results, sum = custpkg.ValidateZip(bytes.NewReader(zipData), int64(len(zipData)), d.release())
	case envOK || keyOK:
		files, results, sum = custpkg.ValidateFiles(envData, keyData, d.release())
	default:
		return render(w, r, http.StatusUnprocessableEntity, web.PackageStep(d.packageView(st, wizard.FieldErrors{"zip": "Choose the package zip, or both customer.env and key.json."}, web.ChecksView{})))
	}
	run := wizard.NewCheckRun(d.Now(), results)
	if check.Failed(results) {
		errs := wizard.FieldErrors{}
		for _, res := range results {
			if res.Status == check.Fail && res.Field != "" {
				errs.Add(res.Field, res.Message)
			}
		}
		if len(errs) == 0 {
			errs.Add("zip", "The package did not pass its checks; see below.")
		}
		return render(w, r, http.StatusUnprocessableEntity, web.PackageStep(d.packageView(st, errs, web.ChecksView{Run: run})))
	}
	if _, err := d.Store.Update(func(st *wizard.State) error {
		st.Package = wizard.PackageInput{
			CustomerEnv: string(files.CustomerEnv), KeyJSON: string(files.KeyJSON),
			Summary: wizard.PackageSummary{Tenant: sum.TenantID, PackageVersion: sum.PackageVersion, ServiceAccount: sum.ServiceAccount, Project: sum.GCPProject},
		}
		st.SetChecks(wizard.Package, run)
		delete(st.Done, wizard.Package)
		if st.Domain.Domain == "" && sum.Domain != "" {
			st.Domain.Domain = sum.Domain // a suggestion the domain step shows
		}
		return nil
	}); err != nil {
		return err
	}
	d.Log.Info("customer package uploaded", "tenant", sum.TenantID, "version", sum.PackageVersion)
	return redirect(w, r, stepURL(wizard.Package))
}

func hasUpload(r *http.Request) bool {
	for _, name := range []string{"zip", "customer_env", "key_json"} {
		if fh := r.MultipartForm.File[name]; len(fh) > 0 && fh[0].Size > 0 {
			return true
		}
	}
	return false
}

// formFile reads an uploaded file; the request size is already bounded.
func formFile(r *http.Request, name string) ([]byte, bool) {
	fhs := r.MultipartForm.File[name]
	if len(fhs) == 0 || fhs[0].Size == 0 {
		return nil, false
	}
	f, err := fhs[0].Open()
	if err != nil {
		return nil, false
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	return b, err == nil
}
