package server

import (
	"bytes"
	"context"
	"net/http"

	"github.com/carto-setup/carto-setup/internal/bundle"
	"github.com/carto-setup/carto-setup/internal/wizard"
	"github.com/carto-setup/carto-setup/web"
)

// Bundler collects the support bundle: the state, the release's env files,
// Docker's status and the containers' last log lines, masked. The app
// implements it.
type Bundler interface {
	Build(ctx context.Context) (*bundle.Bundle, error)
}

// errNoBundle answers when the app was built without a bundler.
var errNoBundle = &appError{Status: http.StatusNotFound, Title: "Not available", Message: "This wizard cannot build a support bundle."}

// handleBundlePreview lists the files of the bundle and what was masked,
// before the download.
func (d *Deps) handleBundlePreview(w http.ResponseWriter, r *http.Request) error {
	if d.Bundle == nil {
		return errNoBundle
	}
	st, err := d.Store.Load()
	if err != nil {
		return err
	}
	b, err := d.Bundle.Build(r.Context())
	if err != nil {
		return err
	}
	v := web.BundlePreviewView{Progress: web.NewProgress(st, wizard.Smoke)}
	for _, e := range b.Entries() {
		v.Files = append(v.Files, web.BundleFileView{Name: e.Name, Size: e.Size, Redactions: e.Redactions})
	}
	for _, x := range b.Redactions() {
		v.Redactions = append(v.Redactions, web.BundleRedactionView{File: x.File, What: x.What, Count: x.Count})
	}
	return render(w, r, http.StatusOK, web.BundlePreview(v))
}

// handleBundleDownload sends the bundle as a .tar.gz. It is built in
// memory first (it is small: log tails), so a failure is a clean error page
// instead of a truncated download.
func (d *Deps) handleBundleDownload(w http.ResponseWriter, r *http.Request) error {
	if d.Bundle == nil {
		return errNoBundle
	}
	b, err := d.Bundle.Build(r.Context())
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := b.WriteTarGz(&buf); err != nil {
		return err
	}
	d.Log.Info("support bundle downloaded", "files", len(b.Entries()), "bytes", buf.Len())
	h := w.Header()
	h.Set("Content-Type", "application/gzip")
	h.Set("Content-Disposition", `attachment; filename="`+b.Dir()+`.tar.gz"`)
	h.Set("Cache-Control", "no-store")
	_, err = w.Write(buf.Bytes())
	return err
}
