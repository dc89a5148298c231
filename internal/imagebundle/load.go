package imagebundle

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/klauspost/compress/gzip"
)

// maxManifest bounds the manifest read into memory.
const maxManifest = 64 << 20

// Progress reports a pass over a bundle: "verify" or "load", bytes of the
// bundle read so far and its size (0 when unknown).
type Progress func(pass string, done, total int64)

// seenFile is what a pass found for one docker save entry.
type seenFile struct {
	stored int64
	sha256 string
	link   string
}

// Verify reads a whole bundle and checks it: the manifest against its
// checksum, and every entry against the manifest (present, same size, same
// SHA-256, nothing extra). A mismatch is a *CorruptError naming the images
// the damaged entries belong to. Nothing is loaded.
func Verify(r io.Reader, onProgress Progress, total int64) (*Manifest, error) {
	if onProgress == nil {
		onProgress = func(string, int64, int64) {}
	}
	cr := &countingReader{r: r, every: 8 << 20, report: func(n int64) { onProgress("verify", n, total) }}
	tr := tar.NewReader(cr)
	seen := map[string]seenFile{}
	var mj, sumLine []byte
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, corrupt("it ends early or is not a tar archive after %d bytes (%v); copy or upload it again", cr.n, err)
		}
		switch {
		case strings.HasPrefix(hdr.Name, dockerPrefix):
			name := strings.TrimPrefix(hdr.Name, dockerPrefix)
			switch hdr.Typeflag {
			case tar.TypeDir:
			case tar.TypeSymlink:
				seen[name] = seenFile{link: hdr.Linkname}
			default:
				h := sha256.New()
				n, err := io.Copy(h, tr)
				if err != nil {
					return nil, corrupt("it ends early inside %s after %d bytes (%v); copy or upload it again", name, cr.n, err)
				}
				seen[name] = seenFile{stored: n, sha256: hex.EncodeToString(h.Sum(nil))}
			}
		case hdr.Name == manifestName:
			if mj, err = io.ReadAll(io.LimitReader(tr, maxManifest)); err != nil {
				return nil, corrupt("its manifest cannot be read: %v", err)
			}
		case hdr.Name == checksumName:
			if sumLine, err = io.ReadAll(io.LimitReader(tr, 1024)); err != nil {
				return nil, corrupt("its manifest checksum cannot be read: %v", err)
			}
		default:
			return nil, corrupt("it holds %s, which no carto-setup bundle has", hdr.Name)
		}
	}
	onProgress("verify", cr.n, total)
	if mj == nil || sumLine == nil {
		return nil, corrupt("it has no manifest: it is cut short, or it is not a carto-setup image bundle (carto-setup images save writes one)")
	}
	want, _, _ := strings.Cut(string(sumLine), " ")
	if hashHex(mj) != want {
		return nil, corrupt("its manifest does not match the manifest's checksum")
	}
	var m Manifest
	if err := json.Unmarshal(mj, &m); err != nil {
		return nil, corrupt("its manifest is not valid JSON: %v", err)
	}
	if m.Format != Format {
		return nil, corrupt("its format is %q; this carto-setup reads %q", m.Format, Format)
	}
	var bad []string
	for _, f := range m.Files {
		got, ok := seen[f.Name]
		delete(seen, f.Name)
		if !ok || got.link != f.Link || f.Link == "" && (got.stored != f.Stored || got.sha256 != f.SHA256) {
			bad = append(bad, f.Name)
		}
	}
	extra := slices.Sorted(func(yield func(string) bool) {
		for name := range seen {
			if !yield(name) {
				return
			}
		}
	})
	if len(bad) > 0 || len(extra) > 0 {
		e := corrupt("%d of its %d entries do not match the manifest", len(bad)+len(extra), len(m.Files))
		e.Files = append(bad, extra...)
		e.Images = m.imagesUsing(bad)
		if len(e.Images) == 0 {
			e.Images = m.imagesUsing(nil)
		}
		return nil, e
	}
	return &m, nil
}

// LoadOptions tune Load. The zero value works.
type LoadOptions struct {
	// Verified is the manifest of a Verify of the same file just done
	// (Upload.Complete): Load then skips its own first pass. The second
	// pass checks every entry against it all the same.
	Verified   *Manifest
	OnProgress Progress
	// OnLine receives the engine's messages ("Loaded image: ...").
	OnLine func(string)
}

// Load verifies the bundle in r (a whole pass, see Verify, unless
// opts.Verified says it was just done), then reads it
// again and streams the engine's original docker save entries to the
// engine, checking every entry once more as it goes (the file could change
// between the passes), and finally checks that every image is present with
// the ID the manifest records. A mismatch found in the second pass aborts
// the stream; the Docker Engine unpacks a whole load before it registers
// any image, so nothing of a damaged bundle is loaded. r must be seekable
// because of the two passes: an upload is kept on disk (see Upload).
func Load(ctx context.Context, eng Engine, r io.ReadSeeker, opts LoadOptions) (*Manifest, error) {
	if opts.OnProgress == nil {
		opts.OnProgress = func(string, int64, int64) {}
	}
	total, err := r.Seek(0, io.SeekEnd)
	if err != nil {
		return nil, fmt.Errorf("imagebundle: load: %w", err)
	}
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("imagebundle: load: %w", err)
	}
	m := opts.Verified
	if m == nil {
		if m, err = Verify(r, opts.OnProgress, total); err != nil {
			return nil, err
		}
	}
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("imagebundle: load: %w", err)
	}
	pr, pw := io.Pipe()
	streamed := make(chan error, 1)
	go func() {
		err := rebuild(r, pw, m, func(n int64) { opts.OnProgress("load", n, total) })
		pw.CloseWithError(err)
		streamed <- err
	}()
	_, lerr := eng.LoadImages(ctx, pr, opts.OnLine)
	pr.CloseWithError(errors.New("imagebundle: the engine stopped reading"))
	if serr := <-streamed; serr != nil {
		var ce *CorruptError
		if errors.As(serr, &ce) {
			return nil, ce
		}
		if lerr == nil {
			return nil, fmt.Errorf("imagebundle: load: %w", serr)
		}
	}
	if lerr != nil {
		return nil, fmt.Errorf("imagebundle: load: %w", lerr)
	}
	opts.OnProgress("load", total, total)
	for _, im := range m.Images {
		info, err := eng.InspectImage(ctx, im.Ref)
		if err != nil {
			return nil, fmt.Errorf("imagebundle: load: %s is not on the engine after the load: %w", im.Ref, err)
		}
		if info.ID != im.ID {
			return nil, fmt.Errorf("imagebundle: load: %s has ID %s on the engine, the bundle says %s", im.Ref, info.ID, im.ID)
		}
	}
	return m, nil
}

// rebuild writes the engine's docker save stream back from the bundle in
// r to w, decompressing what Save compressed and checking each entry
// against m as it passes.
func rebuild(r io.Reader, w io.Writer, m *Manifest, report func(int64)) error {
	files := map[string]File{}
	for _, f := range m.Files {
		files[f.Name] = f
	}
	cr := &countingReader{r: r, every: 8 << 20, report: report}
	tr := tar.NewReader(cr)
	tw := tar.NewWriter(w)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return corrupt("it changed after it was verified: %v", err)
		}
		name, ok := strings.CutPrefix(hdr.Name, dockerPrefix)
		if !ok {
			continue
		}
		out := &tar.Header{Name: name, Mode: hdr.Mode, ModTime: hdr.ModTime, Typeflag: hdr.Typeflag, Linkname: hdr.Linkname}
		if hdr.Typeflag == tar.TypeDir || hdr.Typeflag == tar.TypeSymlink {
			if err := tw.WriteHeader(out); err != nil {
				return err
			}
			continue
		}
		f, ok := files[name]
		if !ok {
			return corrupt("it changed after it was verified: %s is not in its manifest", name)
		}
		out.Size = f.Size
		if err := tw.WriteHeader(out); err != nil {
			return err
		}
		if err := copyEntry(tw, tr, f); err != nil {
			var ce *CorruptError
			if errors.As(err, &ce) {
				ce.Images = m.imagesUsing([]string{name})
			}
			return err
		}
	}
	return tw.Close()
}

// copyEntry copies one stored entry to w as the engine wrote it, and
// checks the stored bytes' SHA-256. A failure to write (the engine stopped
// reading) is returned as is; a failure to read or a mismatch is a
// *CorruptError.
func copyEntry(w io.Writer, stored io.Reader, f File) error {
	h := sha256.New()
	src := io.TeeReader(stored, h)
	ew := &errWriter{w: w}
	damaged := func(why string) error {
		return &CorruptError{Reason: "it changed after it was verified: " + f.Name + ": " + why, Files: []string{f.Name}}
	}
	var n int64
	var err error
	if f.Gzip {
		zr, zerr := gzip.NewReader(src)
		if zerr != nil {
			return damaged(zerr.Error())
		}
		// Never more than the header announced: damaged data may inflate
		// to anything.
		if n, err = io.Copy(ew, io.LimitReader(zr, f.Size)); err == nil {
			var more int64
			if more, err = io.Copy(io.Discard, zr); err == nil && more > 0 {
				err = fmt.Errorf("it inflates beyond its %d bytes", f.Size)
			}
		}
		if err == nil {
			// Read the rest so the whole stored entry is hashed.
			_, err = io.Copy(io.Discard, src)
		}
	} else {
		n, err = io.Copy(ew, io.LimitReader(src, f.Size))
		if err == nil {
			_, err = io.Copy(io.Discard, src)
		}
	}
	switch {
	case ew.err != nil:
		return ew.err
	case err != nil:
		return damaged(err.Error())
	case n != f.Size || hex.EncodeToString(h.Sum(nil)) != f.SHA256:
		return damaged("it does not match the manifest")
	}
	return nil
}

// errWriter remembers a write error, to tell it from a read error in
// io.Copy.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	n, err := e.w.Write(p)
	if err != nil {
		e.err = err
	}
	return n, err
}
