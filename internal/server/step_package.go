package server

import (
	"errors"
	"io"
	"net/http"

	"github.com/carto-setup/carto-setup/internal/custpkg"
	"github.com/carto-setup/carto-setup/internal/steps"
	"github.com/carto-setup/carto-setup/internal/wizard"
	"github.com/carto-setup/carto-setup/web"
)

// maxPackageUpload bounds the whole upload request: a zip of at most
// custpkg.MaxZipSize plus form overhead.
const maxPackageUpload = custpkg.MaxZipSize + 1<<20

func (d *Deps) packageView(st wizard.State, errs wizard.FieldErrors, checks web.ChecksView) web.PackageStepView {
	rel := d.Steps.Release()
	checks.Continue = st.Package.CustomerEnv != ""
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
		return render(w, r, http.StatusUnprocessableEntity, web.PackageStep(d.packageView(st, wizard.FieldErrors{wizard.FieldZip: msg}, web.ChecksView{})))
	}
	defer r.MultipartForm.RemoveAll()
	if r.FormValue("action") == "next" && !hasUpload(r) {
		return d.continueStep(w, r, wizard.Package, func(st wizard.State, v web.ChecksView) error {
			return render(w, r, http.StatusUnprocessableEntity, web.PackageStep(d.packageView(st, nil, v)))
		})
	}
	var up steps.PackageUpload
	up.Zip, _ = formFile(r, wizard.FieldZip)
	if len(up.Zip) == 0 {
		up.CustomerEnv, _ = formFile(r, wizard.FieldCustomerEnv)
		up.KeyJSON, _ = formFile(r, wizard.FieldKeyJSON)
	}
	out, err := d.Steps.Package(up)
	if err != nil {
		return err
	}
	if out.Refused() {
		return render(w, r, http.StatusUnprocessableEntity, web.PackageStep(d.packageView(out.State, out.Errors, web.ChecksView{Run: out.Run})))
	}
	return redirect(w, r, stepURL(wizard.Package))
}

func hasUpload(r *http.Request) bool {
	for _, name := range []string{wizard.FieldZip, wizard.FieldCustomerEnv, wizard.FieldKeyJSON} {
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
