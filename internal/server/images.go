package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/carto-setup/carto-setup/internal/imagebundle"
	"github.com/carto-setup/carto-setup/internal/images"
	"github.com/carto-setup/carto-setup/internal/jobs"
	"github.com/carto-setup/carto-setup/internal/steps"
	"github.com/carto-setup/carto-setup/web"
)

// ImagesPanel is the Images panel's back end; steps.Bundles is the real
// one.
type ImagesPanel interface {
	// Images lists the release's images and which Docker has.
	Images(ctx context.Context) ([]steps.ImageState, error)
	// Upload reports an unfinished upload.
	Upload() (steps.UploadState, bool)
	// StartUpload starts or resumes the upload of size bytes and returns
	// the offset of the next piece.
	StartUpload(size int64) (int64, error)
	// AppendUpload writes a piece at offset and returns the new offset
	// (an *imagebundle.OffsetError names the expected one).
	AppendUpload(offset int64, r io.Reader) (int64, error)
	// DiscardUpload drops the unfinished upload.
	DiscardUpload() error
	// CompleteUpload starts the load of the finished upload as a job.
	CompleteUpload() (string, error)
	// ReceiveWhole stores a bundle sent in one request, of at most size
	// bytes when that is above zero, and starts its load.
	ReceiveWhole(r io.Reader, size int64) (string, error)
	// Load and LatestLoad report a load job.
	Load(id string) (steps.LoadStatus, bool)
	LatestLoad() (steps.LoadStatus, bool)
}

// uploadIdle is how long an upload may send nothing before the wizard
// drops the connection; it is extended as bytes arrive, so a slow link
// uploading gigabytes is never cut off by the server's ReadTimeout.
const uploadIdle = 2 * time.Minute

var errNoImagesPanel = &appError{Status: http.StatusNotFound, Title: "Not available", Message: "This wizard has no Images panel."}

// backURL keeps the "back" link to a page of the wizard itself.
func backURL(r *http.Request) string {
	b := r.URL.Query().Get("back")
	if strings.HasPrefix(b, "/steps/") && !strings.ContainsAny(b, "\\?#") && !strings.Contains(b, "//") {
		return b
	}
	return ""
}

// handleImagesPage shows the Images panel.
func (d *Deps) handleImagesPage(w http.ResponseWriter, r *http.Request) error {
	if d.Images == nil {
		return errNoImagesPanel
	}
	v := web.ImagesPageView{Back: backURL(r)}
	if n, err := strconv.ParseInt(r.URL.Query().Get("resumed"), 10, 64); err == nil && n > 0 {
		v.Resumed = images.FormatBytes(n)
	}
	list, err := d.Images.Images(r.Context())
	if err != nil {
		d.Log.Warn("images panel: cannot list the release's images", "err", err)
		v.ListError = "carto-setup cannot tell which images Docker has: " + sentenceOf(err)
	}
	for _, im := range list {
		v.Images = append(v.Images, web.ImageStateView{Ref: im.Ref, Present: im.Present})
	}
	if u, ok := d.Images.Upload(); ok && u.Offset < u.Total {
		v.Upload = &web.UploadView{Offset: u.Offset, Total: u.Total, Done: images.FormatBytes(u.Offset), Size: images.FormatBytes(u.Total)}
	}
	// The load just started, when the upload says which; else the
	// latest.
	l, ok := d.Images.Load(r.URL.Query().Get("job"))
	if !ok {
		l, ok = d.Images.LatestLoad()
	}
	if ok {
		lv := loadView(l)
		v.Load = &lv
	}
	return render(w, r, http.StatusOK, web.ImagesPage(v))
}

// sentenceOf is an error as a sentence for the page; only for errors
// whose text is safe (no secret reaches them).
func sentenceOf(err error) string {
	s := err.Error()
	if s != "" {
		s = strings.ToUpper(s[:1]) + s[1:]
	}
	if !strings.HasSuffix(s, ".") {
		s += "."
	}
	return s
}

func loadView(l steps.LoadStatus) web.LoadView {
	v := web.LoadView{ID: l.Record.ID, Status: string(l.Record.Status), Error: l.Record.Error, Started: l.Record.Started,
		Pass: l.Pass, Images: l.Images, Corrupt: l.Corrupt, Lines: l.Lines}
	if l.Total > 0 {
		v.Done = images.FormatBytes(l.Done) + " of " + images.FormatBytes(l.Total)
		v.Percent = int(100 * l.Done / l.Total)
	}
	return v
}

// writeJSON answers the upload script.
func writeJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	return json.NewEncoder(w).Encode(v)
}

func jsonError(w http.ResponseWriter, status int, msg string) error {
	return writeJSON(w, status, map[string]string{"error": msg})
}

// streaming lifts the server's read and write deadlines for a request
// that streams a bundle: the read deadline moves on as bytes arrive, and
// the answer gets its own deadline once the body is read.
type streaming struct {
	r    io.Reader
	rc   *http.ResponseController
	last time.Time
}

func newStreaming(w http.ResponseWriter, body io.Reader) *streaming {
	s := &streaming{r: body, rc: http.NewResponseController(w)}
	s.extend()
	return s
}

func (s *streaming) extend() {
	s.last = time.Now()
	// Not every ResponseWriter has deadlines (tests); the server's own
	// timeouts then apply.
	_ = s.rc.SetReadDeadline(s.last.Add(uploadIdle))
	_ = s.rc.SetWriteDeadline(s.last.Add(uploadIdle))
}

func (s *streaming) Read(p []byte) (int, error) {
	if time.Since(s.last) > time.Second {
		s.extend()
	}
	return s.r.Read(p)
}

// handleImagesUpload starts (or resumes) a resumable upload, for the
// script; or, for the form posted without JavaScript, receives the whole
// bundle in the request and starts its load.
func (d *Deps) handleImagesUpload(w http.ResponseWriter, r *http.Request) error {
	if d.Images == nil {
		return errNoImagesPanel
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct == "multipart/form-data" {
		return d.receiveWhole(w, r)
	}
	size, err := strconv.ParseInt(r.PostFormValue("size"), 10, 64)
	if err != nil || size <= 0 {
		return jsonError(w, http.StatusBadRequest, "The upload needs the bundle's size in bytes.")
	}
	offset, err := d.Images.StartUpload(size)
	switch {
	case errors.Is(err, steps.ErrLoadRunning):
		return jsonError(w, http.StatusConflict, "A bundle is being loaded; wait for it to finish.")
	case err != nil:
		d.Log.Warn("images panel: cannot start an upload", "err", err)
		return jsonError(w, http.StatusInsufficientStorage, "The wizard cannot take the bundle: "+sentenceOf(err))
	}
	w.Header().Set("Upload-Offset", strconv.FormatInt(offset, 10))
	return writeJSON(w, http.StatusOK, map[string]int64{"offset": offset, "total": size})
}

// receiveWhole streams the form's file part to disk and starts its load.
func (d *Deps) receiveWhole(w http.ResponseWriter, r *http.Request) error {
	mr, err := r.MultipartReader()
	if err != nil {
		return &appError{Status: http.StatusBadRequest, Title: "Upload refused", Message: "The upload is not a form with a file."}
	}
	body := newStreaming(w, nil)
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return &appError{Status: http.StatusBadRequest, Title: "Upload refused", Message: "Choose the bundle file to upload."}
		}
		if err != nil {
			return &appError{Status: http.StatusBadRequest, Title: "Upload refused", Message: "The upload stopped before the file arrived; choose it again."}
		}
		if part.FormName() != "bundle" || part.FileName() == "" {
			part.Close()
			continue
		}
		body.r = part
		// The request's length bounds the file's: a bundle that cannot
		// fit is refused before it is sent on for minutes.
		id, err := d.Images.ReceiveWhole(body, r.ContentLength)
		part.Close()
		body.extend()
		var room *imagebundle.RoomError
		switch {
		case errors.Is(err, steps.ErrLoadRunning):
			return &appError{Status: http.StatusConflict, Title: "Upload refused", Message: "A bundle is being loaded; wait for it to finish."}
		case errors.As(err, &room):
			return &appError{Status: http.StatusInsufficientStorage, Title: "Upload refused",
				Message: fmt.Sprintf("The bundle needs %s and %s has %s free. Free some space there (or start the wizard with another --state-dir) and upload it again.",
					images.FormatBytes(room.Need), room.Dir, images.FormatBytes(room.Free))}
		case err != nil:
			d.Log.Warn("images panel: upload failed", "err", err)
			return &appError{Status: http.StatusBadRequest, Title: "Upload failed", Message: "The bundle did not arrive whole; upload it again."}
		}
		d.Log.Info("offline image bundle received", "job", id)
		return redirect(w, r, "/images?job="+url.QueryEscape(id))
	}
}

// handleImagesUploadHead tells the script where an upload stands.
func (d *Deps) handleImagesUploadHead(w http.ResponseWriter, r *http.Request) error {
	if d.Images == nil {
		return errNoImagesPanel
	}
	u, ok := d.Images.Upload()
	w.Header().Set("Cache-Control", "no-store")
	if !ok {
		w.WriteHeader(http.StatusNotFound)
		return nil
	}
	w.Header().Set("Upload-Offset", strconv.FormatInt(u.Offset, 10))
	w.Header().Set("Upload-Length", strconv.FormatInt(u.Total, 10))
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// handleImagesUploadPatch appends one piece, streamed to disk.
func (d *Deps) handleImagesUploadPatch(w http.ResponseWriter, r *http.Request) error {
	if d.Images == nil {
		return errNoImagesPanel
	}
	offset, err := strconv.ParseInt(r.Header.Get("Upload-Offset"), 10, 64)
	if err != nil || offset < 0 {
		return jsonError(w, http.StatusBadRequest, "The piece needs an Upload-Offset header.")
	}
	next, err := d.Images.AppendUpload(offset, newStreaming(w, r.Body))
	var oe *imagebundle.OffsetError
	switch {
	case errors.As(err, &oe):
		w.Header().Set("Upload-Offset", strconv.FormatInt(oe.Have, 10))
		return jsonError(w, http.StatusConflict, "The upload is at another offset; go on from there.")
	case errors.Is(err, steps.ErrNoUpload):
		return jsonError(w, http.StatusNotFound, "No upload was started; start it again.")
	case err != nil:
		d.Log.Warn("images panel: piece not stored", "offset", offset, "err", err)
		w.Header().Set("Upload-Offset", strconv.FormatInt(next, 10))
		return jsonError(w, http.StatusBadRequest, "The piece did not arrive whole; go on from the offset given.")
	}
	w.Header().Set("Upload-Offset", strconv.FormatInt(next, 10))
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// handleImagesUploadDelete drops an unfinished upload.
func (d *Deps) handleImagesUploadDelete(w http.ResponseWriter, r *http.Request) error {
	if d.Images == nil {
		return errNoImagesPanel
	}
	if err := d.Images.DiscardUpload(); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// handleImagesUploadComplete starts the load of the finished upload.
func (d *Deps) handleImagesUploadComplete(w http.ResponseWriter, r *http.Request) error {
	if d.Images == nil {
		return errNoImagesPanel
	}
	asJSON := strings.Contains(r.Header.Get("Accept"), "application/json")
	id, err := d.Images.CompleteUpload()
	if err != nil {
		msg := "The bundle cannot be loaded yet: " + sentenceOf(err)
		status := http.StatusConflict
		switch {
		case errors.Is(err, steps.ErrLoadRunning):
			msg = "A bundle is being loaded; wait for it to finish."
		case errors.Is(err, jobs.ErrBusy):
			msg = "A bundle is being loaded; wait for it to finish."
		case errors.Is(err, steps.ErrNoUpload):
			msg, status = "No bundle was uploaded.", http.StatusNotFound
		}
		if asJSON {
			return jsonError(w, status, msg)
		}
		return &appError{Status: status, Title: "Cannot load", Message: msg}
	}
	d.Log.Info("offline image bundle load started", "job", id)
	if asJSON {
		return writeJSON(w, http.StatusAccepted, map[string]string{"job": id})
	}
	return redirect(w, r, "/images?job="+url.QueryEscape(id))
}

// handleImagesStatus is a load job's progress for the panel's script.
func (d *Deps) handleImagesStatus(w http.ResponseWriter, r *http.Request) error {
	if d.Images == nil {
		return errNoImagesPanel
	}
	l, ok := d.Images.Load(r.URL.Query().Get("job"))
	if !ok {
		return jsonError(w, http.StatusNotFound, "No such load.")
	}
	v := loadView(l)
	return writeJSON(w, http.StatusOK, map[string]any{"status": v.Status, "pass": v.Pass, "done": v.Done, "percent": v.Percent,
		"error": v.Error, "images": v.Images, "corrupt": v.Corrupt})
}

// imagesBoard is the install page's model of the pull phase.
func imagesBoard(ps []images.Progress) web.ImagesBoardView {
	var v web.ImagesBoardView
	if len(ps) == 0 {
		return v
	}
	row := func(p images.Progress) web.ImageRowView {
		r := web.ImageRowView{Image: p.Image, Status: string(p.Status), Layers: p.Layers(), Bytes: p.Bytes(), BytesDone: p.BytesDone,
			Rate: p.RateText(), Left: p.LeftText(), Note: p.Note}
		if f := p.Failure; f != nil {
			r.Message, r.Hint = f.Message, f.Hint
		}
		return r
	}
	for _, p := range ps {
		v.Rows = append(v.Rows, row(p))
		v.Failed = v.Failed || p.Status == images.Failed
	}
	v.Overall = row(images.Overall(ps))
	return v
}
