package server

import (
	"archive/zip"
	"bytes"
	"net/http"
	"path"
	"sort"
	"strings"

	"github.com/carto-setup/carto-setup/internal/k8sexport"
)

// exportDir is the directory inside the Helm download.
const exportDir = "carto-helm-values"

// exportResult maps the wizard's answers to CARTO's Kubernetes flavours. A
// state that cannot be mapped yet is a 422 that names the answers (never
// their values).
func (d *Deps) exportResult(secretRefs bool) (k8sexport.Result, error) {
	st, err := d.Store.Load()
	if err != nil {
		return k8sexport.Result{}, err
	}
	res, err := k8sexport.Export(st, k8sexport.FromWizard(st.Advanced), k8sexport.Options{SecretRefs: secretRefs})
	if err != nil {
		return res, &appError{Status: http.StatusUnprocessableEntity, Title: "Not ready to export",
			Message: "The answers cannot be exported yet: " + strings.TrimPrefix(err.Error(), "export: ") + "."}
	}
	return res, nil
}

// handleExportHelm sends the Helm values as a zip: customizations.yaml,
// customizations.secrets.yaml and REPORT.md (and secrets/ with
// ?secret_refs=1). It holds secrets: never cached, never logged.
func (d *Deps) handleExportHelm(w http.ResponseWriter, r *http.Request) error {
	refs := r.URL.Query().Get("secret_refs") == "1"
	res, err := d.exportResult(refs)
	if err != nil {
		return err
	}
	files := map[string][]byte{k8sexport.ValuesFile: res.Values, k8sexport.SecretsFile: res.Secrets, k8sexport.ReportFile: res.Report}
	for name, data := range res.SecretFiles {
		files[name] = data
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	now := d.Now()
	for _, name := range names {
		h := &zip.FileHeader{Name: path.Join(exportDir, name), Method: zip.Deflate, Modified: now}
		h.SetMode(0o644)
		if name != k8sexport.ValuesFile && name != k8sexport.ReportFile {
			h.SetMode(0o600) // the secret values, or the files of the Secrets
		}
		f, err := zw.CreateHeader(h)
		if err != nil {
			return err
		}
		if _, err := f.Write(files[name]); err != nil {
			return err
		}
	}
	if err := zw.Close(); err != nil {
		return err
	}
	d.Log.Info("Kubernetes export downloaded", "flavour", "helm", "secret_refs", refs, "files", len(files))
	return sendDownload(w, "application/zip", exportDir+".zip", buf.Bytes())
}

// handleExportKOTS sends the KOTS ConfigValues document.
func (d *Deps) handleExportKOTS(w http.ResponseWriter, r *http.Request) error {
	res, err := d.exportResult(false)
	if err != nil {
		return err
	}
	d.Log.Info("Kubernetes export downloaded", "flavour", "kots")
	return sendDownload(w, "application/yaml", "carto-kots-configvalues.yaml", res.KOTS)
}

// sendDownload sends data as an attachment that no cache keeps.
func sendDownload(w http.ResponseWriter, contentType, name string, data []byte) error {
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Content-Disposition", `attachment; filename="`+name+`"`)
	h.Set("Cache-Control", "no-store")
	_, err := w.Write(data)
	return err
}
