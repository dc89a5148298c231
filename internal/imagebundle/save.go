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
	"os"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/distribution/reference"
	"github.com/klauspost/compress/gzip"

	"github.com/carto-setup/carto-setup/internal/engine"
)

// Engine is the part of the Docker Engine the bundle uses; *engine.Client
// satisfies it.
type Engine interface {
	InspectImage(ctx context.Context, ref string) (engine.ImageInfo, error)
	SaveImages(ctx context.Context, refs []string) (io.ReadCloser, error)
	LoadImages(ctx context.Context, r io.Reader, onLine func(string)) ([]string, error)
}

// SaveOptions tune Save. The zero value works.
type SaveOptions struct {
	// Release is recorded in the manifest (the release's VERSION).
	Release string
	// TempDir holds the one entry being compressed; "" means the
	// system's temporary directory. It needs room for the largest layer.
	TempDir string
	// OnProgress receives the bytes of the engine's export read so far
	// and their expected total (the images' sizes), now and then.
	OnProgress func(done, total int64)
	// Now is the clock of the manifest; nil means time.Now.
	Now func() time.Time
}

// Summary is what Save wrote.
type Summary struct {
	Manifest Manifest
	// Size and SHA256 are the whole bundle's; `sha256sum` of the file
	// gives the same, for a transfer to be checked on arrival.
	Size   int64
	SHA256 string
}

// gzipAbove is the size from which an entry is stored compressed: the
// layers, which docker save writes uncompressed.
const gzipAbove = 64 << 10

// Save writes a bundle of the images refs, which the engine must have, to
// w. The engine exports them in one stream, so a layer shared by several
// images is stored once. A missing image is an error naming it, before
// anything is written.
func Save(ctx context.Context, eng Engine, refs []string, w io.Writer, opts SaveOptions) (Summary, error) {
	if len(refs) == 0 {
		return Summary{}, errors.New("imagebundle: save: no image given")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.OnProgress == nil {
		opts.OnProgress = func(int64, int64) {}
	}
	refs = slices.Compact(slices.Sorted(slices.Values(refs)))
	m := Manifest{Format: Format, Created: opts.Now().UTC().Truncate(time.Second), Release: opts.Release}
	var total int64
	for _, ref := range refs {
		info, err := eng.InspectImage(ctx, ref)
		if errors.Is(err, engine.ErrImageNotFound) {
			return Summary{}, fmt.Errorf("imagebundle: save: the engine has no image %s; pull it first (carto-setup pulls every image of the release during an install)", ref)
		}
		if err != nil {
			return Summary{}, fmt.Errorf("imagebundle: save: %w", err)
		}
		m.Images = append(m.Images, Image{Ref: ref, ID: info.ID, Digest: repoDigest(ref, info.RepoDigests), Size: info.Size})
		total += info.Size
	}

	rc, err := eng.SaveImages(ctx, refs)
	if err != nil {
		return Summary{}, fmt.Errorf("imagebundle: save: %w", err)
	}
	defer rc.Close()
	sum := sha256.New()
	counter := &countingWriter{w: io.MultiWriter(w, sum)}
	tw := tar.NewWriter(counter)
	read := &countingReader{r: rc, every: 8 << 20, report: func(n int64) { opts.OnProgress(n, total) }}
	tr := tar.NewReader(read)
	var dockerManifest []byte
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return Summary{}, fmt.Errorf("imagebundle: save: read the engine's export: %w", err)
		}
		f, data, err := storeEntry(tw, hdr, tr, opts.TempDir)
		if err != nil {
			return Summary{}, fmt.Errorf("imagebundle: save: %s: %w", hdr.Name, err)
		}
		if f != nil {
			m.Files = append(m.Files, *f)
		}
		if hdr.Name == "manifest.json" {
			dockerManifest = data
		}
	}
	opts.OnProgress(read.n, total)
	if err := mapFiles(&m, dockerManifest); err != nil {
		return Summary{}, fmt.Errorf("imagebundle: save: %w", err)
	}
	mj, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return Summary{}, fmt.Errorf("imagebundle: save: %w", err)
	}
	mj = append(mj, '\n')
	check := sha256.Sum256(mj)
	for _, e := range []struct {
		name string
		data []byte
	}{{manifestName, mj}, {checksumName, []byte(hex.EncodeToString(check[:]) + "  manifest.json\n")}} {
		hdr := &tar.Header{Name: e.name, Mode: 0o644, Size: int64(len(e.data)), ModTime: m.Created, Typeflag: tar.TypeReg}
		if err := tw.WriteHeader(hdr); err != nil {
			return Summary{}, fmt.Errorf("imagebundle: save: %w", err)
		}
		if _, err := tw.Write(e.data); err != nil {
			return Summary{}, fmt.Errorf("imagebundle: save: %w", err)
		}
	}
	if err := tw.Close(); err != nil {
		return Summary{}, fmt.Errorf("imagebundle: save: %w", err)
	}
	return Summary{Manifest: m, Size: counter.n, SHA256: hex.EncodeToString(sum.Sum(nil))}, nil
}

// repoDigest picks the registry digest recorded for ref's repository.
func repoDigest(ref string, digests []string) string {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return ""
	}
	for _, d := range digests {
		if dn, err := reference.ParseNormalizedNamed(d); err == nil && dn.Name() == named.Name() {
			return d
		}
	}
	return ""
}

// storeEntry copies one entry of the engine's export into the bundle and
// returns its record (nil for a directory) and, for a small file, its
// bytes.
func storeEntry(tw *tar.Writer, hdr *tar.Header, r io.Reader, tempDir string) (*File, []byte, error) {
	out := &tar.Header{Name: dockerPrefix + hdr.Name, Mode: hdr.Mode, ModTime: hdr.ModTime, Typeflag: hdr.Typeflag, Format: tar.FormatPAX}
	switch hdr.Typeflag {
	case tar.TypeDir:
		return nil, nil, tw.WriteHeader(out)
	case tar.TypeSymlink:
		out.Linkname = hdr.Linkname
		return &File{Name: hdr.Name, Link: hdr.Linkname, Mode: hdr.Mode}, nil, tw.WriteHeader(out)
	case tar.TypeReg:
	default:
		return nil, nil, fmt.Errorf("unexpected entry type %q in the engine's export", hdr.Typeflag)
	}
	f := &File{Name: hdr.Name, Size: hdr.Size, Mode: hdr.Mode}
	if hdr.Size < gzipAbove {
		data, err := io.ReadAll(r)
		if err != nil {
			return nil, nil, err
		}
		f.Stored = int64(len(data))
		f.SHA256 = hashHex(data)
		out.Size = f.Stored
		if err := tw.WriteHeader(out); err != nil {
			return nil, nil, err
		}
		_, err = tw.Write(data)
		return f, data, err
	}
	// A tar header states the size first, so the compressed entry is
	// spooled: one entry at a time, never the whole export.
	spool, err := os.CreateTemp(tempDir, "carto-setup-bundle-*.gz")
	if err != nil {
		return nil, nil, err
	}
	defer os.Remove(spool.Name())
	defer spool.Close()
	h := sha256.New()
	zw, err := gzip.NewWriterLevel(io.MultiWriter(spool, h), gzip.BestSpeed)
	if err != nil {
		return nil, nil, err
	}
	n, err := io.Copy(zw, r)
	if err != nil {
		return nil, nil, err
	}
	if n != hdr.Size {
		return nil, nil, fmt.Errorf("read %d bytes, the header says %d", n, hdr.Size)
	}
	if err := zw.Close(); err != nil {
		return nil, nil, err
	}
	stored, err := spool.Seek(0, io.SeekCurrent)
	if err != nil {
		return nil, nil, err
	}
	if _, err := spool.Seek(0, io.SeekStart); err != nil {
		return nil, nil, err
	}
	f.Gzip, f.Stored, f.SHA256 = true, stored, hex.EncodeToString(h.Sum(nil))
	out.Size = stored
	if err := tw.WriteHeader(out); err != nil {
		return nil, nil, err
	}
	if _, err := io.Copy(tw, spool); err != nil {
		return nil, nil, err
	}
	return f, nil, nil
}

// dockerManifestEntry is one image of docker save's own manifest.json.
type dockerManifestEntry struct {
	Config   string
	RepoTags []string
	Layers   []string
}

// mapFiles records, for every image, the entries it needs, from docker
// save's own manifest.json (following symbolic links between layers).
func mapFiles(m *Manifest, dockerManifest []byte) error {
	if dockerManifest == nil {
		return errors.New("the engine's export has no manifest.json")
	}
	var entries []dockerManifestEntry
	if err := json.Unmarshal(dockerManifest, &entries); err != nil {
		return fmt.Errorf("the engine's manifest.json: %w", err)
	}
	links := map[string]string{}
	for _, f := range m.Files {
		if f.Link != "" {
			links[f.Name] = path.Clean(path.Join(path.Dir(f.Name), f.Link))
		}
	}
	for i := range m.Images {
		im := &m.Images[i]
		hexID := strings.TrimPrefix(im.ID, "sha256:")
		for _, e := range entries {
			if !slices.Contains(e.RepoTags, im.Ref) && !strings.Contains(e.Config, hexID) {
				continue
			}
			files := []string{e.Config}
			for _, l := range e.Layers {
				files = append(files, l)
				for target, ok := links[l]; ok && !slices.Contains(files, target); target, ok = links[target] {
					files = append(files, target)
				}
			}
			im.Files = files
			break
		}
		if im.Files == nil {
			return fmt.Errorf("the engine's export does not contain %s", im.Ref)
		}
	}
	return nil
}

func hashHex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// countingReader counts what is read and reports it every so many bytes.
type countingReader struct {
	r      io.Reader
	n      int64
	last   int64
	every  int64
	report func(int64)
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if c.report != nil && c.n-c.last >= c.every {
		c.last = c.n
		c.report(c.n)
	}
	return n, err
}
