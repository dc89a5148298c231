package server

import (
	"net/http"

	"github.com/carto-setup/carto-setup/internal/wizard"
)

func stepURL(s wizard.Step) string { return "/steps/" + string(s) }

// step wraps a step's handler: a step whose earlier steps are not done
// redirects to the first incomplete one instead of showing an error.
func (d *Deps) step(s wizard.Step, h handlerFunc) http.Handler {
	return d.handle(func(w http.ResponseWriter, r *http.Request) error {
		st, err := d.Store.Load()
		if err != nil {
			return err
		}
		if !wizard.Reachable(st, s) {
			return redirect(w, r, stepURL(wizard.FirstIncomplete(st)))
		}
		return h(w, r)
	})
}

// handleUnknownStep answers a step name the wizard does not have.
func (d *Deps) handleUnknownStep(w http.ResponseWriter, r *http.Request) error {
	return &appError{Status: http.StatusNotFound, Title: "No such step", Message: "The wizard has no step by that name."}
}

// parseForm reads a form body of bounded size.
func parseForm(w http.ResponseWriter, r *http.Request, limit int64) error {
	r.Body = http.MaxBytesReader(w, r.Body, limit)
	if err := r.ParseForm(); err != nil {
		return &appError{Status: http.StatusBadRequest, Title: "The form could not be read", Message: "The form was too large or malformed. Go back and try again."}
	}
	return nil
}
