package server

import (
	"bytes"
	"context"
	"errors"
	"net/http"

	"github.com/a-h/templ"
	"github.com/go-chi/chi/v5/middleware"

	"github.com/carto-setup/carto-setup/web"
)

// appError is an error with a status and a message that is safe to show.
type appError struct {
	Status  int
	Title   string
	Message string
}

func (e *appError) Error() string { return e.Message }

// render renders c into a buffer first and only then writes the status and
// body, so a template error becomes a clean 500 instead of half a page.
func render(w http.ResponseWriter, r *http.Request, status int, c templ.Component) error {
	var buf bytes.Buffer
	if err := c.Render(r.Context(), &buf); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, err := w.Write(buf.Bytes())
	return err
}

// handlerFunc is a handler that returns its error to one central place.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// handle adapts a handlerFunc: a known *appError becomes its status and safe
// message; anything else is logged with the request ID and shown as a
// generic 500 carrying that ID. The raw error text never reaches the page.
func (d *Deps) handle(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := h(w, r)
		if err == nil || errors.Is(err, context.Canceled) {
			return
		}
		reqID := middleware.GetReqID(r.Context())
		var ae *appError
		if !errors.As(err, &ae) {
			d.Log.Error("request failed", "request_id", reqID, "method", r.Method, "path", r.URL.Path, "err", err)
			ae = &appError{Status: http.StatusInternalServerError, Title: "Something went wrong", Message: "The wizard hit an unexpected error. Nothing you entered was lost."}
		}
		if rerr := render(w, r, ae.Status, web.ErrorPage(web.ErrorView{Status: ae.Status, Title: ae.Title, Message: ae.Message, RequestID: reqID})); rerr != nil {
			http.Error(w, ae.Message, ae.Status)
		}
	})
}

// redirect answers 303 See Other, the answer to every successful POST.
func redirect(w http.ResponseWriter, r *http.Request, url string) error {
	http.Redirect(w, r, url, http.StatusSeeOther)
	return nil
}
