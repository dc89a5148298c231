package server

import (
	"net/http"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"

	"github.com/carto-setup/carto-setup/internal/wizard"
	"github.com/carto-setup/carto-setup/static"
)

// routes lists every URL the wizard serves. Only /healthz, the static
// assets and the sign-in page itself are reachable without a session.
func routes(d *Deps) *chi.Mux {
	if d.drafts == nil {
		d.drafts = newDrafts()
	}
	r := chi.NewRouter()
	r.Use(middleware.RequestID, middleware.Recoverer, d.logRequests, d.securityHeaders, d.hostCheck, d.crossOrigin)

	// Public.
	r.Get("/healthz", handleHealthz)
	r.Get("/favicon.ico", handleFavicon)
	r.Handle(static.Prefix+"*", static.Handler())
	r.Method(http.MethodGet, "/signin", d.handle(d.handleSignInForm))
	r.Method(http.MethodPost, "/signin", d.handle(d.handleSignInSubmit))

	// Everything else needs a session.
	r.Group(func(r chi.Router) {
		r.Use(d.requireSession)
		r.Method(http.MethodGet, "/", d.handle(d.handleHome))
		r.Method(http.MethodGet, "/status/live", d.handle(d.handleStatusLive))
		r.Method(http.MethodPost, "/signout", d.handle(d.handleSignOut))

		r.Method(http.MethodGet, "/steps/preflight", d.step(wizard.Preflight, d.handlePreflightForm))
		r.Method(http.MethodPost, "/steps/preflight", d.step(wizard.Preflight, d.handlePreflightSubmit))

		r.Method(http.MethodGet, "/steps/package", d.step(wizard.Package, d.handlePackageForm))
		r.Method(http.MethodPost, "/steps/package", d.step(wizard.Package, d.handlePackageSubmit))
		r.Method(http.MethodGet, "/steps/domain", d.step(wizard.Domain, d.handleDomainForm))
		r.Method(http.MethodPost, "/steps/domain", d.step(wizard.Domain, d.handleDomainSubmit))

		r.Method(http.MethodGet, "/steps/database", d.step(wizard.Database, d.handleDatabaseForm))
		r.Method(http.MethodPost, "/steps/database", d.step(wizard.Database, d.handleDatabaseSubmit))

		r.Method(http.MethodGet, "/steps/tls", d.step(wizard.TLS, d.handleTLSForm))
		r.Method(http.MethodPost, "/steps/tls", d.step(wizard.TLS, d.handleTLSSubmit))
		r.Method(http.MethodGet, "/steps/tls/certificate.crt", d.step(wizard.TLS, d.handleTLSCertificate))

		r.Method(http.MethodGet, "/steps/buckets", d.step(wizard.Buckets, d.handleBucketsForm))
		r.Method(http.MethodPost, "/steps/buckets", d.step(wizard.Buckets, d.handleBucketsSubmit))
		r.Method(http.MethodGet, "/steps/advanced", d.step(wizard.Advanced, d.handleAdvancedForm))
		r.Method(http.MethodPost, "/steps/advanced", d.step(wizard.Advanced, d.handleAdvancedSubmit))
		r.Method(http.MethodGet, "/steps/review", d.step(wizard.Review, d.handleReviewForm))
		r.Method(http.MethodPost, "/steps/review", d.step(wizard.Review, d.handleReviewSubmit))
		r.Method(http.MethodGet, "/steps/install", d.step(wizard.Install, d.handleInstallStep))
		r.Method(http.MethodGet, "/jobs/{id}", d.handle(d.handleJobPage))
		r.Method(http.MethodGet, "/jobs/{id}/poll", d.handle(d.handleJobPoll))
		r.Method(http.MethodPost, "/jobs/{id}/remove", d.handle(d.handleRemoveFailed))
		r.Get("/jobs/{id}/logs", d.handleJobLogs)
		r.Method(http.MethodGet, "/steps/smoke", d.step(wizard.Smoke, d.handleSmokeForm))
		r.Method(http.MethodPost, "/steps/smoke", d.step(wizard.Smoke, d.handleSmokeSubmit))
		r.Method(http.MethodGet, "/bundle", d.handle(d.handleBundlePreview))
		r.Method(http.MethodGet, "/bundle/download", d.handle(d.handleBundleDownload))
		r.Method(http.MethodGet, "/finish", d.handle(d.handleFinish))
		r.Method(http.MethodPost, "/finish/lock", d.handle(d.handleLock))
		d.upgradeRoutes(r)

		// The Images panel: offline bundles, uploaded resumably.
		r.Method(http.MethodGet, "/images", d.handle(d.handleImagesPage))
		r.Method(http.MethodGet, "/images/status", d.handle(d.handleImagesStatus))
		r.Method(http.MethodPost, "/images/upload", d.handle(d.handleImagesUpload))
		r.Method(http.MethodHead, "/images/upload", d.handle(d.handleImagesUploadHead))
		r.Method(http.MethodPatch, "/images/upload", d.handle(d.handleImagesUploadPatch))
		r.Method(http.MethodDelete, "/images/upload", d.handle(d.handleImagesUploadDelete))
		r.Method(http.MethodPost, "/images/upload/complete", d.handle(d.handleImagesUploadComplete))
		r.Method(http.MethodGet, "/finish/export/helm.zip", d.handle(d.handleExportHelm))
		r.Method(http.MethodGet, "/finish/export/kots.yaml", d.handle(d.handleExportKOTS))
		r.Method(http.MethodGet, "/logs", d.handle(d.handleLogsPage))
		r.Method(http.MethodGet, "/logs/download", d.handle(d.handleLogsDownload))
		r.Method(http.MethodGet, "/logs/poll", d.handle(d.handleLogsPoll))
		r.Get("/logs/live", d.handleLogsLive)

		// Any other step name.
		r.Method(http.MethodGet, "/steps/{step}", d.handle(d.handleUnknownStep))
	})
	return r
}

func handleHealthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write([]byte("ok\n"))
}
