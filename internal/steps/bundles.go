package steps

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/carto-setup/carto-setup/internal/engine"
	"github.com/carto-setup/carto-setup/internal/imagebundle"
	"github.com/carto-setup/carto-setup/internal/jobs"
	"github.com/carto-setup/carto-setup/internal/wizard"
)

// loadJobKind is the jobs kind of a bundle load.
const loadJobKind = "images-load"

// BundleFile is the name, under the state directory, of an offline image
// bundle received by the wizard (while it arrives: BundleFile + ".part").
const BundleFile = "images.bundle"

// BundlesConfig is what the Images panel's back end needs.
type BundlesConfig struct {
	Log        *slog.Logger
	Runner     *jobs.Runner
	Store      wizard.Store
	ReleaseDir string
	// StateDir holds the bundle while it arrives and until it is loaded.
	StateDir string
}

// Bundles receives offline image bundles from the wizard's Images panel,
// in pieces that survive an interrupted upload (imagebundle.Upload) or
// whole, checks them against their manifest and loads them into the
// Docker Engine as a job whose progress the panel shows.
type Bundles struct {
	c BundlesConfig

	mu     sync.Mutex
	upload *imagebundle.Upload
	loads  map[string]*loadRun
}

// loadRun is what a load job of this process shows while and after it
// runs.
type loadRun struct {
	mu sync.Mutex
	st LoadStatus
}

func (l *loadRun) update(f func(*LoadStatus)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f(&l.st)
}

// NewBundles returns the panel's back end.
func NewBundles(c BundlesConfig) *Bundles {
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	return &Bundles{c: c, loads: map[string]*loadRun{}}
}

func (b *Bundles) path() string { return filepath.Join(b.c.StateDir, BundleFile) }

// ImageState is one image of the release and whether the engine has it.
type ImageState struct {
	Ref     string
	Present bool
}

// Images lists the images an install would pull and which the engine
// already has.
func (b *Bundles) Images(ctx context.Context) ([]ImageState, error) {
	st, err := b.c.Store.Load()
	if err != nil {
		return nil, err
	}
	refs, err := PlannedImages(st, b.c.ReleaseDir)
	if err != nil {
		return nil, err
	}
	return ImageStates(ctx, refs)
}

// ImageStates asks the engine which of refs it has.
func ImageStates(ctx context.Context, refs []string) ([]ImageState, error) {
	eng, err := engine.New(ctx)
	if err != nil {
		return nil, fmt.Errorf("the Docker Engine is not reachable: %w", err)
	}
	defer eng.Close()
	out := make([]ImageState, len(refs))
	for i, ref := range refs {
		_, err := eng.InspectImage(ctx, ref)
		if err != nil && !errors.Is(err, engine.ErrImageNotFound) {
			return nil, err
		}
		out[i] = ImageState{Ref: ref, Present: err == nil}
	}
	return out, nil
}

// UploadState is an unfinished upload: bytes arrived of the total.
type UploadState struct {
	Offset, Total int64
}

// Upload reports the unfinished upload, if any; one left by an earlier
// run of the wizard counts too, so the browser can go on with it.
func (b *Bundles) Upload() (UploadState, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.upload == nil {
		total, ok := imagebundle.PendingUpload(b.path())
		if !ok {
			return UploadState{}, false
		}
		u, err := imagebundle.OpenUpload(b.path(), total)
		if err != nil {
			return UploadState{}, false
		}
		b.upload = u
	}
	return UploadState{Offset: b.upload.Offset(), Total: b.upload.Total()}, true
}

// StartUpload starts the upload of a bundle of size bytes, or goes on with
// the unfinished one of the same size, and returns where the next piece
// starts. An unfinished upload of another size is a different file: it is
// dropped.
func (b *Bundles) StartUpload(size int64) (int64, error) {
	if err := b.idle(); err != nil {
		return 0, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.upload != nil && b.upload.Total() != size {
		b.upload.Discard()
		b.upload = nil
	}
	if b.upload == nil {
		u, err := imagebundle.OpenUpload(b.path(), size)
		if errors.Is(err, imagebundle.ErrOtherUpload) {
			os.Remove(b.path() + ".part")
			os.Remove(b.path() + ".part.json")
			u, err = imagebundle.OpenUpload(b.path(), size)
		}
		if err != nil {
			return 0, err
		}
		b.upload = u
	}
	return b.upload.Offset(), nil
}

// ErrNoUpload is a piece or a completion without a started upload.
var ErrNoUpload = errors.New("steps: no upload was started; start it again")

// AppendUpload writes the piece r, which starts at offset, and returns the
// new offset. An *imagebundle.OffsetError says where the upload stands.
func (b *Bundles) AppendUpload(offset int64, r io.Reader) (int64, error) {
	b.mu.Lock()
	u := b.upload
	b.mu.Unlock()
	if u == nil {
		return 0, ErrNoUpload
	}
	return u.Append(offset, r, nil)
}

// DiscardUpload drops the unfinished upload.
func (b *Bundles) DiscardUpload() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.upload == nil {
		os.Remove(b.path() + ".part")
		os.Remove(b.path() + ".part.json")
		return nil
	}
	err := b.upload.Discard()
	b.upload = nil
	return err
}

// ErrLoadRunning refuses a second bundle while one is being loaded.
var ErrLoadRunning = errors.New("steps: a bundle is being loaded; wait for it to finish")

// idle refuses while a load runs: the bundle file is in use.
func (b *Bundles) idle() error {
	if rec, ok := b.c.Runner.Latest(loadJobKind); ok && !rec.Done() {
		return ErrLoadRunning
	}
	return nil
}

// CompleteUpload finishes the upload and starts its load as a job, which
// first checks the whole bundle against its manifest (a damaged one is
// dropped and refused, naming its images) and then loads it. With no
// upload under way, a bundle kept from a load that failed for another
// reason is loaded again. It returns the job's ID.
func (b *Bundles) CompleteUpload() (string, error) {
	if err := b.idle(); err != nil {
		return "", err
	}
	b.mu.Lock()
	u := b.upload
	b.upload = nil
	b.mu.Unlock()
	if u == nil {
		if _, err := os.Stat(b.path()); err != nil {
			return "", ErrNoUpload
		}
	} else if st := (UploadState{Offset: u.Offset(), Total: u.Total()}); st.Offset != st.Total {
		b.mu.Lock()
		b.upload = u
		b.mu.Unlock()
		return "", fmt.Errorf("steps: %d of %d bytes of the bundle have arrived; send the rest first", st.Offset, st.Total)
	}
	return b.startLoad(u)
}

// ReceiveWhole stores a bundle sent in one piece (the panel's form without
// JavaScript) and starts its load, as CompleteUpload does. An interrupted
// transfer keeps nothing. size, when known (above zero), is at least the
// bundle's: one that cannot fit is refused with an *imagebundle.RoomError
// before a byte is read.
func (b *Bundles) ReceiveWhole(r io.Reader, size int64) (string, error) {
	if err := b.idle(); err != nil {
		return "", err
	}
	if size > 0 {
		if err := imagebundle.CheckRoom(b.c.StateDir, size); err != nil {
			return "", err
		}
	}
	tmp, err := os.CreateTemp(b.c.StateDir, BundleFile+".whole-*")
	if err != nil {
		return "", fmt.Errorf("steps: receive bundle: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := io.Copy(tmp, r); err != nil {
		tmp.Close()
		return "", fmt.Errorf("steps: receive bundle: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return "", fmt.Errorf("steps: receive bundle: %w", err)
	}
	if err := os.Rename(tmp.Name(), b.path()); err != nil {
		return "", fmt.Errorf("steps: receive bundle: %w", err)
	}
	return b.startLoad(nil)
}

// LoadStatus is one load of a bundle as the panel shows it.
type LoadStatus struct {
	Record jobs.Record
	// Live is false for a load of an earlier run of the wizard.
	Live bool
	// Pass is "verify" or "load"; Done and Total are bytes of the bundle.
	Pass        string
	Done, Total int64
	// Images are those the bundle holds, once its manifest is read; the
	// damaged ones when Corrupt.
	Images  []string
	Corrupt bool
	// Lines are the engine's messages ("Loaded image: ...").
	Lines []string
}

// startLoad runs the load of the bundle as a job; u, when not nil, is the
// finished upload to verify and move into place first.
func (b *Bundles) startLoad(u *imagebundle.Upload) (string, error) {
	run := &loadRun{st: LoadStatus{Live: true}}
	progress := func(pass string, done, total int64) {
		run.update(func(ls *LoadStatus) { ls.Pass, ls.Done, ls.Total = pass, done, total })
	}
	rec, err := b.c.Runner.Start(loadJobKind, func(ctx context.Context, id string) error {
		var verified *imagebundle.Manifest
		if u != nil {
			m, err := u.Complete(progress)
			if err != nil {
				return b.loadFailed(run, err)
			}
			verified = m
		}
		f, err := os.Open(b.path())
		if err != nil {
			return fmt.Errorf("the bundle is gone: %w", err)
		}
		defer f.Close()
		eng, err := engine.New(ctx)
		if err != nil {
			return errors.New("the Docker Engine is not reachable; start Docker, then load the bundle again")
		}
		defer eng.Close()
		m, err := imagebundle.Load(ctx, eng, f, imagebundle.LoadOptions{Verified: verified, OnProgress: progress,
			OnLine: func(line string) { run.update(func(ls *LoadStatus) { ls.Lines = append(ls.Lines, line) }) }})
		if err != nil {
			return b.loadFailed(run, err)
		}
		run.update(func(ls *LoadStatus) { ls.Images = m.Refs() })
		f.Close()
		os.Remove(b.path())
		b.c.Log.Info("offline image bundle loaded", "images", m.Refs())
		return nil
	})
	if err != nil {
		return "", err
	}
	b.mu.Lock()
	b.loads[rec.ID] = run
	b.mu.Unlock()
	return rec.ID, nil
}

// loadFailed records why a load failed and returns the job's error, safe
// to show: a damaged bundle is dropped, naming the images it affects;
// anything else keeps the bundle for another try.
func (b *Bundles) loadFailed(run *loadRun, err error) error {
	b.c.Log.Warn("offline image bundle not loaded", "err", err)
	var ce *imagebundle.CorruptError
	if errors.As(err, &ce) {
		run.update(func(ls *LoadStatus) { ls.Corrupt, ls.Images = true, ce.Images })
		if rerr := os.Remove(b.path()); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
			b.c.Log.Warn("could not remove the damaged bundle", "err", rerr)
		}
		msg := "the bundle is damaged and was not loaded: " + ce.Reason
		if len(ce.Images) > 0 {
			msg += "; affected images: " + strings.Join(ce.Images, ", ")
		}
		return errors.New(msg + ". Upload it again (compare its SHA-256 with the .sha256 file written beside it)")
	}
	return errors.New("the bundle could not be loaded; the console log has the details. It is kept: load it again")
}

// Load reports a load job, or false for an unknown ID.
func (b *Bundles) Load(id string) (LoadStatus, bool) {
	rec, ok := b.c.Runner.Get(id)
	if !ok || rec.Kind != loadJobKind {
		return LoadStatus{}, false
	}
	b.mu.Lock()
	run := b.loads[id]
	b.mu.Unlock()
	if run == nil {
		return LoadStatus{Record: rec}, true
	}
	run.mu.Lock()
	defer run.mu.Unlock()
	out := run.st
	out.Record = rec
	out.Images = slices.Clone(run.st.Images)
	out.Lines = slices.Clone(run.st.Lines)
	return out, true
}

// LatestLoad reports the most recent load job.
func (b *Bundles) LatestLoad() (LoadStatus, bool) {
	rec, ok := b.c.Runner.Latest(loadJobKind)
	if !ok {
		return LoadStatus{}, false
	}
	return b.Load(rec.ID)
}
