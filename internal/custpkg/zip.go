package custpkg

import (
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"
)

// Upload limits. CARTO's package is two small text files; anything much
// bigger is a mistake or an attack.
const (
	MaxZipSize    = 10 << 20 // bytes of the uploaded zip
	MaxFileSize   = 1 << 20  // bytes of customer.env or key.json, uncompressed
	MaxZipEntries = 16
)

// Field names an Error or a check result belongs to, as the wizard's form
// names them.
const (
	FieldZip         = "zip"
	FieldCustomerEnv = "customer_env"
	FieldKeyJSON     = "key_json"
)

// Error is a rejected upload. Message is a sentence that is safe to show the
// user (it never quotes file content); Field names the form field.
type Error struct {
	Field   string
	Message string
}

// Error returns the field and the message, prefixed with the package name.
func (e *Error) Error() string { return "custpkg: " + e.Field + ": " + e.Message }

func reject(field, format string, args ...any) *Error {
	return &Error{Field: field, Message: fmt.Sprintf(format, args...)}
}

// Files are the two files of a customer package, as uploaded.
type Files struct {
	CustomerEnv []byte
	KeyJSON     []byte
}

// FromFiles takes customer.env and key.json uploaded separately, refusing a
// missing, empty or oversized file with an *Error.
func FromFiles(customerEnv, keyJSON []byte) (Files, error) {
	for _, f := range []struct {
		field, name string
		b           []byte
	}{{FieldCustomerEnv, "customer.env", customerEnv}, {FieldKeyJSON, "key.json", keyJSON}} {
		if len(f.b) == 0 {
			return Files{}, reject(f.field, "%s is empty or was not uploaded.", f.name)
		}
		if len(f.b) > MaxFileSize {
			return Files{}, reject(f.field, "%s is larger than the %s limit.", f.name, sizeText(MaxFileSize))
		}
	}
	return Files{CustomerEnv: customerEnv, KeyJSON: keyJSON}, nil
}

// FromZip reads customer.env and key.json from a customer-package zip of
// size bytes. The two files may sit at the top or inside one top-level
// folder; every other entry is ignored but still inspected. It refuses with
// an *Error (field "zip") an archive over MaxZipSize or with more than
// MaxZipEntries entries, an entry whose path is absolute or climbs out with
// "..", a symbolic link or other special file, an encrypted entry, a nested
// zip, duplicate names, a used file over MaxFileSize, and a file that
// inflates beyond its declared size (a zip bomb); sizes are enforced while
// reading, never taken from the headers alone.
func FromZip(r io.ReaderAt, size int64) (Files, error) {
	if size > MaxZipSize {
		return Files{}, reject(FieldZip, "The zip is larger than the %s limit.", sizeText(MaxZipSize))
	}
	zr, err := zip.NewReader(r, size)
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) {
		return Files{}, reject(FieldZip, "The upload is not a readable zip archive.")
	}
	if len(zr.File) > MaxZipEntries {
		return Files{}, reject(FieldZip, "The zip has %d entries; a customer package has 2 and at most %d are accepted.", len(zr.File), MaxZipEntries)
	}
	seen := map[string]bool{}
	var env, key *zip.File
	for _, f := range zr.File {
		name := f.Name
		if err := checkEntryName(name); err != nil {
			return Files{}, err
		}
		clean := strings.TrimSuffix(path.Clean(name), "/")
		if seen[clean] {
			return Files{}, reject(FieldZip, "The zip has two entries named %q.", printable(clean))
		}
		seen[clean] = true
		if f.Flags&0x1 != 0 {
			return Files{}, reject(FieldZip, "The zip entry %q is encrypted; upload an unencrypted package.", printable(name))
		}
		mode := f.Mode()
		if mode&fs.ModeSymlink != 0 {
			return Files{}, reject(FieldZip, "The zip entry %q is a symbolic link, which is not accepted.", printable(name))
		}
		if mode.IsDir() || strings.HasSuffix(name, "/") {
			continue
		}
		if !mode.IsRegular() {
			return Files{}, reject(FieldZip, "The zip entry %q is not a regular file.", printable(name))
		}
		if strings.EqualFold(path.Ext(name), ".zip") || isZip(f) {
			return Files{}, reject(FieldZip, "The zip contains another zip (%q); unzip it and upload the inner package.", printable(name))
		}
		parts := strings.Split(clean, "/")
		if len(parts) > 2 {
			continue
		}
		switch parts[len(parts)-1] {
		case "customer.env":
			if env != nil {
				return Files{}, reject(FieldZip, "The zip has more than one customer.env (%q and %q).", printable(env.Name), printable(name))
			}
			env = f
		case "key.json":
			if key != nil {
				return Files{}, reject(FieldZip, "The zip has more than one key.json (%q and %q).", printable(key.Name), printable(name))
			}
			key = f
		}
	}
	if env == nil {
		return Files{}, reject(FieldZip, "The zip has no customer.env (at the top or in one folder).")
	}
	if key == nil {
		return Files{}, reject(FieldZip, "The zip has no key.json (at the top or in one folder).")
	}
	var files Files
	if files.CustomerEnv, err = readEntry(env); err != nil {
		return Files{}, err
	}
	if files.KeyJSON, err = readEntry(key); err != nil {
		return Files{}, err
	}
	return FromFiles(files.CustomerEnv, files.KeyJSON)
}

func checkEntryName(name string) error {
	switch {
	case name == "":
		return reject(FieldZip, "The zip has an entry without a name.")
	case strings.ContainsRune(name, '\\'):
		return reject(FieldZip, "The zip entry %q uses backslashes in its path, which is not accepted.", printable(name))
	case strings.HasPrefix(name, "/") || (len(name) >= 2 && name[1] == ':'):
		return reject(FieldZip, "The zip entry %q has an absolute path, which is not accepted.", printable(name))
	case strings.ContainsRune(name, 0):
		return reject(FieldZip, "The zip entry %q has a NUL byte in its name.", printable(name))
	}
	for _, part := range strings.Split(name, "/") {
		if part == ".." {
			return reject(FieldZip, "The zip entry %q points outside the archive (\"..\"), which is not accepted.", printable(name))
		}
	}
	return nil
}

// isZip reports whether an entry starts with a zip signature. It reads at
// most four inflated bytes.
func isZip(f *zip.File) bool {
	rc, err := f.Open()
	if err != nil {
		return false
	}
	defer rc.Close()
	head := make([]byte, 4)
	n, _ := io.ReadFull(rc, head)
	return bytes.HasPrefix(head[:n], []byte("PK\x03\x04")) || bytes.HasPrefix(head[:n], []byte("PK\x05\x06"))
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// readEntry inflates a used entry, stopping at MaxFileSize+1 bytes whatever
// the header claims.
func readEntry(f *zip.File) ([]byte, error) {
	base := path.Base(f.Name)
	if f.UncompressedSize64 > MaxFileSize {
		return nil, reject(FieldZip, "%s in the zip is larger than the %s limit.", base, sizeText(MaxFileSize))
	}
	rc, err := f.Open()
	if err != nil {
		return nil, reject(FieldZip, "%s in the zip cannot be read (unsupported compression or a corrupt archive).", base)
	}
	defer rc.Close()
	cr := &countingReader{r: rc}
	b, err := io.ReadAll(io.LimitReader(cr, MaxFileSize+1))
	switch {
	case int64(len(b)) > MaxFileSize:
		return nil, reject(FieldZip, "%s in the zip inflates beyond %s although its header says %s: a zip bomb or a corrupt archive.", base, sizeText(MaxFileSize), sizeText(int64(f.UncompressedSize64)))
	case errors.Is(err, zip.ErrFormat) || (err != nil && cr.n > int64(f.UncompressedSize64)):
		// archive/zip stops with ErrFormat once an entry inflates past its
		// declared size.
		return nil, reject(FieldZip, "%s in the zip holds more data than its header declares (%s): a zip bomb or a corrupt archive.", base, sizeText(int64(f.UncompressedSize64)))
	case err != nil:
		return nil, reject(FieldZip, "%s in the zip is corrupt (checksum or format error).", base)
	}
	return b, nil
}

// sizeText renders a byte count for a message.
func sizeText(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}

// printable shortens and cleans an entry name for a message.
func printable(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, s)
	if len(s) > 80 {
		s = s[:80] + "..."
	}
	return s
}
