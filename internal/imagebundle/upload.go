package imagebundle

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"syscall"
)

// Upload is a bundle received in pieces, as the wizard's Images panel
// sends it: appended at the offset the client says, kept in <path>.part
// (and its expected size in <path>.part.json) until it is complete and
// verified, so that an upload interrupted (a closed tab, a wizard restart)
// goes on from where it stopped.
//
// The HTTP side is expected to do, per upload (one Upload per path, its
// requests serialised by Upload itself):
//   - on start, OpenUpload with the size the browser reports for the file
//     (File.size), and answer the current Offset;
//   - for each piece, Append the request body at the offset the client
//     sends (e.g. an Upload-Offset header; the browser sends
//     file.slice(offset)); an *OffsetError answers 409 with the offset
//     expected, from which the client resumes;
//   - when Offset reaches the size, Complete, which verifies the bundle;
//     then Load the file it names (a job whose progress the panel shows).
type Upload struct {
	mu    sync.Mutex
	path  string
	total int64
	size  int64
	f     *os.File
}

// OffsetError is a piece sent for another offset than the one the upload
// has reached.
type OffsetError struct{ Have, Got int64 }

func (e *OffsetError) Error() string {
	return fmt.Sprintf("imagebundle: upload: the upload has %d bytes, the piece starts at %d", e.Have, e.Got)
}

// ErrOtherUpload is an OpenUpload for a path whose unfinished upload has
// another size: a different file. Discard it first.
var ErrOtherUpload = errors.New("imagebundle: upload: an unfinished upload of another size is in the way")

type uploadMeta struct {
	Total int64 `json:"total"`
}

// PendingUpload reports the size of the unfinished upload that will end
// as path, left by an earlier OpenUpload (maybe of an earlier process).
func PendingUpload(path string) (total int64, ok bool) {
	b, err := os.ReadFile(path + ".part.json")
	if err != nil {
		return 0, false
	}
	var meta uploadMeta
	if json.Unmarshal(b, &meta) != nil || meta.Total <= 0 {
		return 0, false
	}
	return meta.Total, true
}

// OpenUpload starts, or resumes, the upload of a bundle of total bytes
// that will end as path. It refuses when the filesystem cannot hold the
// rest.
func OpenUpload(path string, total int64) (*Upload, error) {
	if total <= 0 {
		return nil, errors.New("imagebundle: upload: the size must be positive")
	}
	part, metaPath := path+".part", path+".part.json"
	if b, err := os.ReadFile(metaPath); err == nil {
		var meta uploadMeta
		if json.Unmarshal(b, &meta) != nil || meta.Total != total {
			return nil, ErrOtherUpload
		}
	} else if errors.Is(err, fs.ErrNotExist) {
		b, _ := json.Marshal(uploadMeta{Total: total})
		if err := os.WriteFile(metaPath, b, 0o600); err != nil {
			return nil, fmt.Errorf("imagebundle: upload: %w", err)
		}
	} else {
		return nil, fmt.Errorf("imagebundle: upload: %w", err)
	}
	f, err := os.OpenFile(part, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("imagebundle: upload: %w", err)
	}
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("imagebundle: upload: %w", err)
	}
	if size > total {
		f.Close()
		return nil, ErrOtherUpload
	}
	if err := CheckRoom(filepath.Dir(part), total-size); err != nil {
		f.Close()
		return nil, err
	}
	return &Upload{path: path, total: total, size: size, f: f}, nil
}

// RoomError is a bundle, or the rest of one, that does not fit on the
// filesystem that would hold it.
type RoomError struct {
	Dir        string
	Free, Need int64
}

func (e *RoomError) Error() string {
	return fmt.Sprintf("imagebundle: %.1f GB free in %s, the bundle needs %.1f GB", float64(e.Free)/1e9, e.Dir, float64(e.Need)/1e9)
}

// CheckRoom returns a *RoomError when the filesystem of dir has less than
// need bytes free, before a byte is written. A filesystem that cannot be
// measured is not refused: the write itself will then say.
func CheckRoom(dir string, need int64) error {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return nil
	}
	if free := int64(st.Bavail) * int64(st.Bsize); free < need {
		return &RoomError{Dir: dir, Free: free, Need: need}
	}
	return nil
}

// Offset is how many bytes have arrived: where the next piece starts.
func (u *Upload) Offset() int64 {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.size
}

// Total is the size the bundle will have.
func (u *Upload) Total() int64 { return u.total }

// Append writes the piece r, which starts at offset, and returns the new
// offset. What arrived before an error (a dropped connection) is kept and
// synced, so the next piece starts there. onProgress, if not nil, receives
// the offset as bytes arrive.
func (u *Upload) Append(offset int64, r io.Reader, onProgress func(int64)) (int64, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.f == nil {
		return 0, errors.New("imagebundle: upload: closed")
	}
	if offset != u.size {
		return u.size, &OffsetError{Have: u.size, Got: offset}
	}
	if _, err := u.f.Seek(u.size, io.SeekStart); err != nil {
		return u.size, fmt.Errorf("imagebundle: upload: %w", err)
	}
	cr := &countingReader{r: io.LimitReader(r, u.total-u.size+1), every: 4 << 20}
	if onProgress != nil {
		start := u.size
		cr.report = func(n int64) { onProgress(start + n) }
	}
	n, copyErr := io.Copy(u.f, cr)
	if u.size+n > u.total {
		// Never keep bytes beyond the declared size.
		n = u.total - u.size
		if err := u.f.Truncate(u.total); err != nil {
			return u.size, fmt.Errorf("imagebundle: upload: %w", err)
		}
		copyErr = fmt.Errorf("the piece goes beyond the %d bytes declared", u.total)
	}
	u.size += n
	if err := u.f.Sync(); err != nil {
		return u.size, fmt.Errorf("imagebundle: upload: %w", err)
	}
	if onProgress != nil {
		onProgress(u.size)
	}
	if copyErr != nil {
		return u.size, fmt.Errorf("imagebundle: upload: %w", copyErr)
	}
	return u.size, nil
}

// Complete verifies the whole upload (see Verify) and moves it to its
// path. A damaged bundle is a *CorruptError naming the images; its partial
// file is discarded so that the next upload starts afresh.
func (u *Upload) Complete(onProgress Progress) (*Manifest, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.f == nil {
		return nil, errors.New("imagebundle: upload: closed")
	}
	if u.size != u.total {
		return nil, fmt.Errorf("imagebundle: upload: %d of %d bytes have arrived", u.size, u.total)
	}
	if _, err := u.f.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("imagebundle: upload: %w", err)
	}
	m, err := Verify(u.f, onProgress, u.total)
	if err != nil {
		var ce *CorruptError
		if errors.As(err, &ce) {
			u.discard()
		}
		return nil, err
	}
	if err := u.f.Close(); err != nil {
		return nil, fmt.Errorf("imagebundle: upload: %w", err)
	}
	u.f = nil
	if err := os.Rename(u.path+".part", u.path); err != nil {
		return nil, fmt.Errorf("imagebundle: upload: %w", err)
	}
	os.Remove(u.path + ".part.json")
	return m, nil
}

// Discard drops the upload and its partial file.
func (u *Upload) Discard() error {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.discard()
}

func (u *Upload) discard() error {
	if u.f != nil {
		u.f.Close()
		u.f = nil
	}
	err := os.Remove(u.path + ".part")
	os.Remove(u.path + ".part.json")
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("imagebundle: upload: %w", err)
	}
	return nil
}

// Close releases the partial file; the upload can be opened again later.
func (u *Upload) Close() error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.f == nil {
		return nil
	}
	err := u.f.Close()
	u.f = nil
	return err
}
