package server

import (
	"net/http"

	"github.com/carto-setup/carto-setup/internal/deploy"
	"github.com/carto-setup/carto-setup/internal/wizard"
	"github.com/carto-setup/carto-setup/web"
)

// maxReviewForm bounds the review's form: a choice per conflict.
const maxReviewForm = 64 << 10

// Resolver is what an Installer also implements when the review can
// settle conflicts with the admin's hand edits (steps.Installer does).
type Resolver interface {
	// Resolve saves the admin's choices, by conflict key.
	Resolve(choices map[string]deploy.Resolution) (wizard.State, error)
}

// resolveConflicts saves a choice for every conflict of the review shown
// (the form's resolve.<key>) and sends the admin back to the review,
// planned again with them. A conflict left without a choice, or a value
// that is neither choice, is refused next to it (422) and nothing is
// saved.
func (d *Deps) resolveConflicts(w http.ResponseWriter, r *http.Request, view web.ReviewStepView) error {
	choices := map[string]deploy.Resolution{}
	refused := false
	for i, c := range view.Review.Report.Conflicts {
		switch v := deploy.Resolution(r.PostFormValue("resolve." + c.Key)); v {
		case deploy.KeepMine, deploy.TakeWizard:
			choices[c.Key] = v
			view.Review.Report.Conflicts[i].Resolution = string(v)
		default:
			refused = true
			view.Review.Report.Conflicts[i].Error = "Choose which value of " + c.Key + " stays."
		}
	}
	if refused {
		view.Error = "Choose, for each conflict below, whether your edit or the proposed value stays."
		return render(w, r, http.StatusUnprocessableEntity, web.ReviewStep(view))
	}
	rs, ok := d.Installer.(Resolver)
	if !ok {
		return &appError{Status: http.StatusNotImplemented, Title: "Conflicts cannot be settled here",
			Message: "This wizard cannot save choices for conflicts; edit customer.env by hand and review again."}
	}
	if _, err := rs.Resolve(choices); err != nil {
		return err
	}
	d.Log.Info("conflicts resolved", "count", len(choices)) // "keys" would be masked as a secret name
	return redirect(w, r, stepURL("review"))
}

// reviewReport is the page's model of the plan's report.
func reviewReport(r deploy.Report) web.ReviewReport {
	out := web.ReviewReport{EnvTplOverrides: r.EnvTplOverrides, Notices: r.Notices}
	for _, c := range r.Conflicts {
		theirs := "the wizard"
		if c.Kind == deploy.ConflictPackage {
			theirs = "the new customer package"
		}
		out.Conflicts = append(out.Conflicts, web.ConflictView{Kind: string(c.Kind), Key: c.Key, Hand: c.Hand, HandSet: c.HandSet,
			Proposed: c.Proposed, ProposedSet: c.ProposedSet, Theirs: theirs, Resolution: string(c.Resolution)})
	}
	changes := func(cs []deploy.KeyChange) []web.KeyChangeView {
		var v []web.KeyChangeView
		for _, c := range cs {
			v = append(v, web.KeyChangeView{Key: c.Key, Change: string(c.Kind), From: c.From, To: c.To})
		}
		return v
	}
	out.Kept, out.PackageChanges, out.Overwritten = changes(r.KeptEdits), changes(r.PackageChanges), changes(r.Overwritten)
	for _, f := range r.Files {
		out.Files = append(out.Files, web.FileChangeView{Path: f.Path, Action: string(f.Action), HandEdited: f.HandEdited, Backup: f.Backup,
			Secret: f.Secret, Readers: f.Readers})
	}
	for _, rs := range r.Restarts {
		out.Restarts = append(out.Restarts, web.RestartView{Service: rs.Service, Files: rs.Files})
	}
	return out
}
