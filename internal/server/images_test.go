package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/carto-setup/carto-setup/internal/images"
	"github.com/carto-setup/carto-setup/internal/jobs"
	"github.com/carto-setup/carto-setup/internal/steps"
	"github.com/carto-setup/carto-setup/web"
)

// withBundles gives the fixture the real Images panel back end over a
// state directory of its own.
func withBundles(t *testing.T, f *fixture) (*steps.Bundles, string) {
	t.Helper()
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	runner, err := jobs.NewRunner(ctx, filepath.Join(dir, "jobs"), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); runner.Wait() })
	b := steps.NewBundles(steps.BundlesConfig{Log: f.deps.Log, Runner: runner, Store: f.deps.Store, ReleaseDir: t.TempDir(), StateDir: dir})
	f.deps.Images = b
	f.router = routes(f.deps)
	return b, dir
}

func (f *fixture) upload(t *testing.T, method, path string, body io.Reader, header map[string]string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(method, path, body)
	req.AddCookie(f.cookie)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	return f.do(t, req)
}

// brokenReader delivers n bytes of data and then fails, as a connection
// dropped in the middle of a piece does.
type brokenReader struct {
	data []byte
	n    int
}

func (b *brokenReader) Read(p []byte) (int, error) {
	if b.n <= 0 {
		return 0, errors.New("connection reset by peer")
	}
	k := copy(p, b.data[:min(len(b.data), b.n, len(p))])
	b.data, b.n = b.data[k:], b.n-k
	return k, nil
}

// TestImagesUploadResumes sends a bundle in pieces as js/upload.js does: a
// piece cut off mid-way keeps what arrived, a piece for the wrong offset
// is answered 409 with the right one, HEAD and a new start (a reloaded
// page, as after a wizard restart) report where the upload stands, and
// the completed upload is checked against its manifest before anything
// is loaded: bytes that are no bundle are refused and dropped.
func TestImagesUploadResumes(t *testing.T) {
	f := newFixture(t)
	_, dir := withBundles(t, f)
	data := make([]byte, 3<<20)
	rand.Read(data)
	size := strconv.Itoa(len(data))
	form := map[string]string{"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}

	start := func() int64 {
		t.Helper()
		res := f.upload(t, "POST", "/images/upload", strings.NewReader("size="+size), form)
		var got struct{ Offset, Total int64 }
		if err := json.NewDecoder(res.Body).Decode(&got); err != nil || res.StatusCode != 200 || got.Total != int64(len(data)) {
			t.Fatalf("start: %d %+v %v", res.StatusCode, got, err)
		}
		return got.Offset
	}
	patch := func(offset int64, body io.Reader) *http.Response {
		t.Helper()
		return f.upload(t, "PATCH", "/images/upload", body, map[string]string{"Upload-Offset": strconv.FormatInt(offset, 10)})
	}
	if off := start(); off != 0 {
		t.Fatalf("a new upload starts at %d", off)
	}
	res := patch(0, bytes.NewReader(data[:1<<20]))
	if res.StatusCode != http.StatusNoContent || res.Header.Get("Upload-Offset") != strconv.Itoa(1<<20) {
		t.Fatalf("first piece: %d, offset %q", res.StatusCode, res.Header.Get("Upload-Offset"))
	}
	// The connection drops after 300 kB of the second piece.
	res = patch(1<<20, &brokenReader{data: data[1<<20 : 2<<20], n: 300_000})
	if res.StatusCode == http.StatusNoContent {
		t.Fatal("a cut-off piece was accepted as whole")
	}
	have := int64(1<<20 + 300_000)
	if got := res.Header.Get("Upload-Offset"); got != strconv.FormatInt(have, 10) {
		t.Errorf("after the cut: offset %q, want %d (what arrived is kept)", got, have)
	}
	// The script retries from where it thought it was: refused, with
	// the right offset.
	res = patch(1<<20, bytes.NewReader(data[1<<20:2<<20]))
	if res.StatusCode != http.StatusConflict || res.Header.Get("Upload-Offset") != strconv.FormatInt(have, 10) {
		t.Fatalf("piece at a stale offset: %d, offset %q; want 409 and %d", res.StatusCode, res.Header.Get("Upload-Offset"), have)
	}
	res = f.upload(t, "HEAD", "/images/upload", nil, nil)
	if res.StatusCode != http.StatusNoContent || res.Header.Get("Upload-Offset") != strconv.FormatInt(have, 10) || res.Header.Get("Upload-Length") != size {
		t.Fatalf("HEAD: %d offset %q length %q", res.StatusCode, res.Header.Get("Upload-Offset"), res.Header.Get("Upload-Length"))
	}

	// A restart of the wizard: a new back end over the same directory
	// finds the unfinished upload, and the page offers to go on.
	b2, _ := withBundlesAt(t, f, dir)
	if u, ok := b2.Upload(); !ok || u.Offset != have {
		t.Fatalf("after a restart the upload is at %+v, %v; want %d", u, ok, have)
	}
	page := f.upload(t, "GET", "/images", nil, nil)
	doc, err := goquery.NewDocumentFromReader(page.Body)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := doc.Find("#upload-pending").Attr("data-offset"); got != strconv.FormatInt(have, 10) {
		t.Errorf("the panel shows an unfinished upload at %q, want %d", got, have)
	}
	if off := start(); off != have {
		t.Fatalf("starting again gives offset %d, want %d", off, have)
	}
	if res := patch(have, bytes.NewReader(data[have:])); res.StatusCode != http.StatusNoContent || res.Header.Get("Upload-Offset") != size {
		t.Fatalf("last piece: %d, offset %q", res.StatusCode, res.Header.Get("Upload-Offset"))
	}
	part, _ := os.ReadFile(filepath.Join(dir, steps.BundleFile+".part"))
	if !bytes.Equal(part, data) {
		t.Fatalf("the stored upload differs from the file sent (%d of %d bytes)", len(part), len(data))
	}

	// Complete: the load job checks the manifest first; random bytes
	// are no bundle, so it fails, nothing is loaded, and the upload is
	// dropped.
	res = f.upload(t, "POST", "/images/upload/complete", nil, map[string]string{"Accept": "application/json"})
	var started struct{ Job string }
	if err := json.NewDecoder(res.Body).Decode(&started); err != nil || res.StatusCode != http.StatusAccepted || started.Job == "" {
		t.Fatalf("complete: %d %+v %v", res.StatusCode, started, err)
	}
	var st steps.LoadStatus
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if st, _ = b2.Load(started.Job); st.Record.Done() {
			break
		}
	}
	if st.Record.Status != jobs.Failed || !strings.Contains(st.Record.Error, "damaged") {
		t.Fatalf("load of random bytes: %s %q, want failed as damaged", st.Record.Status, st.Record.Error)
	}
	for _, name := range []string{steps.BundleFile, steps.BundleFile + ".part", steps.BundleFile + ".part.json"} {
		if _, err := os.Stat(filepath.Join(dir, name)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s is left after a damaged upload: %v", name, err)
		}
	}
	res = f.upload(t, "GET", "/images/status?job="+started.Job, nil, nil)
	var status map[string]any
	json.NewDecoder(res.Body).Decode(&status)
	if status["status"] != "failed" || !strings.Contains(status["error"].(string), "damaged") {
		t.Errorf("status JSON %v", status)
	}
}

// withBundlesAt is withBundles over an existing state directory.
func withBundlesAt(t *testing.T, f *fixture, dir string) (*steps.Bundles, string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	runner, err := jobs.NewRunner(ctx, filepath.Join(dir, "jobs"), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); runner.Wait() })
	b := steps.NewBundles(steps.BundlesConfig{Log: f.deps.Log, Runner: runner, Store: f.deps.Store, ReleaseDir: t.TempDir(), StateDir: dir})
	f.deps.Images = b
	f.router = routes(f.deps)
	return b, dir
}

// TestImagesUploadWithoutJS posts the whole file as the plain form does:
// it is stored and its load starts, and the browser is sent back to the
// panel.
func TestImagesUploadWithoutJS(t *testing.T) {
	f := newFixture(t)
	b, _ := withBundles(t, f)
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, _ := mw.CreateFormFile("bundle", "carto-images.bundle")
	fw.Write(bytes.Repeat([]byte("not a bundle "), 1000))
	mw.Close()
	res := f.upload(t, "POST", "/images/upload", &body, map[string]string{"Content-Type": mw.FormDataContentType()})
	if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), "/images?job=") {
		t.Fatalf("plain upload: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
	var st steps.LoadStatus
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		var ok bool
		if st, ok = b.LatestLoad(); ok && st.Record.Done() {
			break
		}
	}
	if st.Record.Status != jobs.Failed || !strings.Contains(st.Record.Error, "damaged") {
		t.Fatalf("load of the plain upload: %s %q, want refused as damaged", st.Record.Status, st.Record.Error)
	}
	page := f.upload(t, "GET", "/images", nil, nil)
	doc, _ := goquery.NewDocumentFromReader(page.Body)
	if got := doc.Find("#load-status").Text(); !strings.Contains(got, "damaged") {
		t.Errorf("the panel says %q about the load, want that the bundle is damaged", got)
	}
}

// TestImagesUploadWithoutJSNoRoom: a plain upload whose request is larger
// than the state directory's free space is refused (507, saying how much
// is free where) before its file is read; nothing is stored or loaded.
func TestImagesUploadWithoutJSNoRoom(t *testing.T) {
	f := newFixture(t)
	b, dir := withBundles(t, f)
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, _ := mw.CreateFormFile("bundle", "carto-images.bundle")
	fw.Write(bytes.Repeat([]byte("x"), 4096))
	mw.Close()
	req := httptest.NewRequest("POST", "/images/upload", &body)
	req.AddCookie(f.cookie)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.ContentLength = 1 << 55 // what the browser announces for a bundle no disk here holds
	res := f.do(t, req)
	doc, _ := goquery.NewDocumentFromReader(res.Body)
	if res.StatusCode != http.StatusInsufficientStorage || !strings.Contains(doc.Text(), "free") || !strings.Contains(doc.Text(), dir) {
		t.Fatalf("an upload that cannot fit: %d %q", res.StatusCode, doc.Find("main").Text())
	}
	if _, ok := b.LatestLoad(); ok {
		t.Error("a load started")
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), steps.BundleFile) {
			t.Errorf("%s was stored", e.Name())
		}
	}
}

// TestImagesUploadCrossSite: a piece sent from another site is refused
// before any byte is stored.
func TestImagesUploadCrossSite(t *testing.T) {
	f := newFixture(t)
	_, dir := withBundles(t, f)
	res := f.upload(t, "POST", "/images/upload", strings.NewReader("size=10"),
		map[string]string{"Content-Type": "application/x-www-form-urlencoded", "Sec-Fetch-Site": "cross-site"})
	if res.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-site start: %d, want 403", res.StatusCode)
	}
	res = f.upload(t, "PATCH", "/images/upload", strings.NewReader("0123456789"),
		map[string]string{"Upload-Offset": "0", "Origin": "https://evil.example"})
	if res.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-site piece: %d, want 403", res.StatusCode)
	}
	if _, err := os.Stat(filepath.Join(dir, steps.BundleFile+".part")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a cross-site request stored an upload: %v", err)
	}
}

// TestImagesBoardView renders the pull phase as the install page shows
// it: counters, the failure with its fix, and the link to the panel.
func TestImagesBoardView(t *testing.T) {
	v := imagesBoard([]images.Progress{
		{Image: "r/a:1", Status: images.Done, LayersDone: 2, LayersTotal: 2, BytesDone: 5_000_000, BytesTotal: 5_000_000, SizeKnown: true},
		{Image: "r/b:1", Status: images.Pulling, LayersDone: 1, LayersTotal: 3, BytesDone: 2_500_000, BytesTotal: 10_000_000, SizeKnown: true, Rate: 1_000_000, SecondsLeft: 8},
		{Image: "r/c:1", Status: images.Failed, SecondsLeft: -1, Failure: &images.Failure{Image: "r/c:1", Kind: images.NotFound, Message: "The registry r has no image r/c:1.", Hint: "The release and the customer package disagree."}},
	})
	var buf bytes.Buffer
	if err := web.ImagesBoard(v).Render(context.Background(), &buf); err != nil {
		t.Fatal(err)
	}
	doc, err := goquery.NewDocumentFromReader(&buf)
	if err != nil {
		t.Fatal(err)
	}
	row := doc.Find(`tr[data-image="r/b:1"]`)
	if got := row.Find(".bytes").Text(); got != "2.5 MB of 10.0 MB" {
		t.Errorf("bytes %q", got)
	}
	if got := row.Find(".rate").Text() + " / " + row.Find(".left").Text() + " / " + row.Find(".layers").Text(); got != "1.0 MB/s / about 8 s left / 1 of 3 layers" {
		t.Errorf("rate, time left and layers %q", got)
	}
	if got, _ := row.Attr("data-bytes-done"); got != "2500000" {
		t.Errorf("data-bytes-done %q", got)
	}
	fail := doc.Find(`.failing[data-image="r/c:1"]`).Text()
	if !strings.Contains(fail, "has no image r/c:1") || !strings.Contains(fail, "disagree") {
		t.Errorf("failure block %q", fail)
	}
	if _, hidden := doc.Find("#images-panel-link").Attr("hidden"); hidden {
		t.Error("the link to the Images panel is hidden after a failure")
	}
	if _, hidden := doc.Find("#images").Attr("hidden"); hidden {
		t.Error("the section is hidden while it has rows")
	}
	if got := doc.Find("#images-overall").Text(); !strings.Contains(got, "7.5 MB of 15.0 MB") {
		t.Errorf("overall %q", got)
	}
	// Before the phase: hidden, but there for the script to fill.
	buf.Reset()
	web.ImagesBoard(imagesBoard(nil)).Render(context.Background(), &buf)
	doc, _ = goquery.NewDocumentFromReader(&buf)
	if _, hidden := doc.Find("#images").Attr("hidden"); !hidden {
		t.Error("an empty pull phase is shown")
	}
}
