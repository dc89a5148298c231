package bundle

import (
	"archive/tar"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/carto-setup/carto-setup/internal/redact"
)

// File is one file to put in the bundle, before masking. Env marks an env
// file (customer.env, .env), whose secret-looking keys' values are masked
// wherever they appear in the bundle, not only in the file itself.
type File struct {
	Name string
	Data []byte
	Env  bool
}

// Redaction says that Count occurrences of What were masked in File.
type Redaction struct {
	File  string `json:"file"`
	What  string `json:"what"`
	Count int    `json:"count"`
}

// Entry is one file of a built bundle, for the preview.
type Entry struct {
	Name       string
	Size       int
	Redactions int
}

// The names of the files the bundle adds itself.
const (
	ManifestFile  = "manifest.json"
	RedactionFile = "redactions.json"
)

// Bundle is a built support bundle: masked files plus the manifest and the
// redaction report.
type Bundle struct {
	created    time.Time
	files      []File
	redactions []Redaction
}

// Secret is a value to mask wherever it appears, with what it is for the
// report.
type Secret = redact.Secret

// Build masks every file with one redactor (see redact.Redactor): the
// secrets given, the values of the secret-looking keys of the env files,
// every secret-looking key's value in any file and every PEM private key.
// It adds the manifest and the redaction report. version is carto-setup's
// version, for the manifest.
func Build(files []File, secrets []Secret, version string, now time.Time) (*Bundle, error) {
	all := slices.Clone(secrets)
	for _, f := range files {
		if f.Env {
			all = append(all, redact.EnvSecrets(f.Data)...)
		}
	}
	r := redact.New(all)
	b := &Bundle{created: now.UTC()}
	names := map[string]bool{ManifestFile: true, RedactionFile: true}
	for _, f := range files {
		if names[f.Name] || f.Name == "" || strings.Contains(f.Name, "..") || strings.HasPrefix(f.Name, "/") {
			return nil, fmt.Errorf("bundle: build: bad or repeated file name %q", f.Name)
		}
		names[f.Name] = true
		data, counts := r.Text(f.Data)
		b.files = append(b.files, File{Name: f.Name, Data: data})
		whats := make([]string, 0, len(counts))
		for w := range counts {
			whats = append(whats, w)
		}
		slices.Sort(whats)
		for _, w := range whats {
			b.redactions = append(b.redactions, Redaction{File: f.Name, What: w, Count: counts[w]})
		}
	}
	report, err := json.MarshalIndent(struct {
		Note       string      `json:"note"`
		Redactions []Redaction `json:"redactions"`
	}{
		Note:       "Each entry counts the secrets masked (replaced with " + redact.Mask + ") in a file; the values themselves are not in this bundle.",
		Redactions: b.redactions,
	}, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("bundle: build: %w", err)
	}
	type manifestFile struct {
		Name       string `json:"name"`
		Size       int    `json:"size"`
		SHA256     string `json:"sha256"`
		Redactions int    `json:"redactions"`
	}
	m := struct {
		Generator string         `json:"generator"`
		Version   string         `json:"version"`
		Created   time.Time      `json:"created"`
		Files     []manifestFile `json:"files"`
	}{Generator: "carto-setup", Version: version, Created: b.created}
	for _, f := range b.files {
		sum := sha256.Sum256(f.Data)
		m.Files = append(m.Files, manifestFile{Name: f.Name, Size: len(f.Data), SHA256: hex.EncodeToString(sum[:]), Redactions: b.count(f.Name)})
	}
	sum := sha256.Sum256(report)
	m.Files = append(m.Files, manifestFile{Name: RedactionFile, Size: len(report), SHA256: hex.EncodeToString(sum[:])})
	manifest, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("bundle: build: %w", err)
	}
	b.files = append([]File{{Name: ManifestFile, Data: manifest}, {Name: RedactionFile, Data: report}}, b.files...)
	return b, nil
}

func (b *Bundle) count(name string) int {
	n := 0
	for _, r := range b.redactions {
		if r.File == name {
			n += r.Count
		}
	}
	return n
}

// Entries lists the bundle's files in archive order.
func (b *Bundle) Entries() []Entry {
	out := make([]Entry, len(b.files))
	for i, f := range b.files {
		out[i] = Entry{Name: f.Name, Size: len(f.Data), Redactions: b.count(f.Name)}
	}
	return out
}

// Redactions returns what was masked where.
func (b *Bundle) Redactions() []Redaction { return slices.Clone(b.redactions) }

// Dir is the directory every file of the archive is under.
func (b *Bundle) Dir() string {
	return "carto-setup-support-" + b.created.Format("20060102T150405Z")
}

// WriteTarGz writes the bundle as a gzipped tar archive.
func (b *Bundle) WriteTarGz(w io.Writer) error {
	gz := gzip.NewWriter(w)
	tw := tar.NewWriter(gz)
	for _, f := range b.files {
		hdr := &tar.Header{Name: b.Dir() + "/" + f.Name, Mode: 0o600, Size: int64(len(f.Data)), ModTime: b.created, Typeflag: tar.TypeReg}
		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("bundle: write %s: %w", f.Name, err)
		}
		if _, err := tw.Write(f.Data); err != nil {
			return fmt.Errorf("bundle: write %s: %w", f.Name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("bundle: write: %w", err)
	}
	if err := gz.Close(); err != nil {
		return fmt.Errorf("bundle: write: %w", err)
	}
	return nil
}
