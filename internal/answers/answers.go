package answers

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/carto-setup/carto-setup/internal/wizard"
)

// Version is the only answers-file version this carto-setup reads.
const Version = 1

// MaxSize bounds an answers file and every file it refers to: the largest
// of them, a customer package zip, is a few kilobytes.
const MaxSize = 16 << 20

// File is an answers file. A section that is absent is nil (or empty for
// Domain): a command needs only the sections its steps read. Paths are
// absolute or relative to the answers file's directory.
type File struct {
	Version   int        `yaml:"version"`
	Package   *Package   `yaml:"package,omitempty"`
	Domain    string     `yaml:"domain,omitempty"`
	Database  *Database  `yaml:"database,omitempty"`
	Cache     *Cache     `yaml:"cache,omitempty"`
	TLS       *TLS       `yaml:"tls,omitempty"`
	Buckets   *Buckets   `yaml:"buckets,omitempty"`
	Advanced  *Advanced  `yaml:"advanced,omitempty"`
	Overrides []Override `yaml:"overrides,omitempty"`

	dir string // where relative paths start
}

// Package is the customer package CARTO sent: the zip, or its two files.
type Package struct {
	Zip         string `yaml:"zip,omitempty"`
	CustomerEnv string `yaml:"customer_env,omitempty"`
	KeyJSON     string `yaml:"key_json,omitempty"`
}

// Database is the metadata PostgreSQL. SSL defaults to true and the other
// fields to CARTO's defaults, as on the wizard's first visit.
type Database struct {
	Mode                  string `yaml:"mode"`
	Host                  string `yaml:"host,omitempty"`
	Port                  int    `yaml:"port,omitempty"`
	AdminUser             string `yaml:"admin_user,omitempty"`
	AdminPasswordFile     string `yaml:"admin_password_file,omitempty"`
	AdminPasswordEnv      string `yaml:"admin_password_env,omitempty"`
	AdminDatabase         string `yaml:"admin_database,omitempty"`
	WorkspaceUser         string `yaml:"workspace_user,omitempty"`
	WorkspacePasswordFile string `yaml:"workspace_password_file,omitempty"`
	WorkspacePasswordEnv  string `yaml:"workspace_password_env,omitempty"`
	WorkspaceDatabase     string `yaml:"workspace_database,omitempty"`
	SSL                   *bool  `yaml:"ssl,omitempty"`
	SSLMode               string `yaml:"ssl_mode,omitempty"`
	SSLCAFile             string `yaml:"ssl_ca_file,omitempty"`
}

// Cache is the Redis/Valkey cache; when the section is absent the cache is
// embedded, the wizard's default.
type Cache struct {
	Mode         string `yaml:"mode"`
	Host         string `yaml:"host,omitempty"`
	Port         int    `yaml:"port,omitempty"`
	PasswordFile string `yaml:"password_file,omitempty"`
	PasswordEnv  string `yaml:"password_env,omitempty"`
	TLS          bool   `yaml:"tls,omitempty"`
	TLSCAFile    string `yaml:"tls_ca_file,omitempty"`
}

// TLS is the router certificate. With self-signed or acme, CertFile and
// KeyFile are optional: a certificate made earlier, kept while it still
// serves the domain.
type TLS struct {
	Mode          string `yaml:"mode"`
	CertFile      string `yaml:"cert_file,omitempty"`
	KeyFile       string `yaml:"key_file,omitempty"`
	KeyEnv        string `yaml:"key_env,omitempty"`
	ChainFile     string `yaml:"chain_file,omitempty"`
	ACMEEmail     string `yaml:"acme_email,omitempty"`
	ACMEDirectory string `yaml:"acme_directory,omitempty"`
}

// Buckets is the storage for imports and thumbnails; only the chosen
// provider's section is read.
type Buckets struct {
	Mode       string `yaml:"mode"`
	Imports    Bucket `yaml:"imports"`
	Thumbnails Bucket `yaml:"thumbnails"`
	GCS        *GCS   `yaml:"gcs,omitempty"`
	S3         *S3    `yaml:"s3,omitempty"`
	Azure      *Azure `yaml:"azure,omitempty"`
}

// Bucket is one bucket (an Azure container).
type Bucket struct {
	Bucket string `yaml:"bucket"`
	Public *bool  `yaml:"public,omitempty"` // absent: the buckets step's default
}

// GCS is a Google Cloud Storage service account.
type GCS struct {
	ProjectID string `yaml:"project_id,omitempty"`
	KeyFile   string `yaml:"key_file,omitempty"`
	KeyEnv    string `yaml:"key_env,omitempty"`
}

// S3 is an AWS (or S3-compatible) access key.
type S3 struct {
	Region              string `yaml:"region,omitempty"`
	AccessKeyID         string `yaml:"access_key_id,omitempty"`
	SecretAccessKeyFile string `yaml:"secret_access_key_file,omitempty"`
	SecretAccessKeyEnv  string `yaml:"secret_access_key_env,omitempty"`
	Endpoint            string `yaml:"endpoint,omitempty"`
}

// Azure is a storage account and one of its access keys.
type Azure struct {
	StorageAccount string `yaml:"storage_account,omitempty"`
	AccessKeyFile  string `yaml:"access_key_file,omitempty"`
	AccessKeyEnv   string `yaml:"access_key_env,omitempty"`
}

// Override continues past a warning or an overridable failure of the check
// with that ID, for the reason given, as the wizard's override field does.
type Override struct {
	Check  string `yaml:"check"`
	Reason string `yaml:"reason"`
}

// Problem is one thing wrong with an answers file: the field's path
// ("database.admin_password_file", "overrides[0].reason") and why.
type Problem struct {
	Field  string
	Reason string
}

func (p Problem) String() string { return p.Field + ": " + p.Reason }

// Error is an invalid answers file: every problem found, in file order.
type Error struct {
	Problems []Problem
}

// Error lists the problems, one per line.
func (e *Error) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

func (e *Error) add(field, format string, args ...any) {
	e.Problems = append(e.Problems, Problem{Field: field, Reason: fmt.Sprintf(format, args...)})
}

func (e *Error) orNil() error {
	if len(e.Problems) == 0 {
		return nil
	}
	return e
}

// Parse decodes an answers file strictly and checks it: version 1, no
// unknown key, every value of the right type, no secret given inline, the
// modes known, every referenced file readable and every referenced
// environment variable set (looked up with getenv). Relative paths are
// resolved against dir, the answers file's directory. A bad file yields an
// *Error naming each field. Secrets are not read yet: Resolve does that when
// they are needed.
func Parse(data []byte, dir string, getenv func(string) string) (File, error) {
	errs := &Error{}
	if len(data) > MaxSize {
		errs.add("(file)", "larger than %d MB; an answers file is a few kilobytes", MaxSize>>20)
		return File{}, errs
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		errs.add("(file)", "not YAML: %s", strings.TrimPrefix(err.Error(), "yaml: "))
		return File{}, errs
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		errs.add("version", "missing: the file is empty; it starts with version: %d", Version)
		return File{}, errs
	}
	// A newer version may have keys this one does not know: say that
	// first, instead of every key it does not know.
	var head struct {
		Version int `yaml:"version"`
	}
	if doc.Content[0].Decode(&head) == nil && head.Version > Version {
		errs.add("version", "%d is not supported; this carto-setup reads version %d", head.Version, Version)
		return File{}, errs
	}
	walk(doc.Content[0], fileType, "", errs)
	if len(errs.Problems) > 0 {
		return File{}, errs
	}
	var f File
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		// walk checks what KnownFields does, with the field's path; this
		// is a safety net.
		errs.add("(file)", "%s", strings.TrimPrefix(err.Error(), "yaml: "))
		return File{}, errs
	}
	f.dir = dir
	if f.Version != Version {
		if f.Version == 0 {
			errs.add("version", "missing; this carto-setup reads version: %d", Version)
		} else {
			errs.add("version", "%d is not supported; this carto-setup reads version %d", f.Version, Version)
		}
		return File{}, errs
	}
	f.check(errs, getenv)
	if err := errs.orNil(); err != nil {
		return File{}, err
	}
	return f, nil
}

// check finds what the types cannot say: modes, combinations, references.
func (f File) check(errs *Error, getenv func(string) string) {
	if p := f.Package; p != nil {
		switch {
		case p.Zip != "" && (p.CustomerEnv != "" || p.KeyJSON != ""):
			errs.add("package", "give either zip, or customer_env and key_json, not both")
		case p.Zip == "" && p.CustomerEnv == "" && p.KeyJSON == "":
			errs.add("package", "give zip, or customer_env and key_json")
		case p.Zip == "" && p.CustomerEnv == "":
			errs.add("package.customer_env", "missing; key_json comes with customer_env")
		case p.Zip == "" && p.KeyJSON == "":
			errs.add("package.key_json", "missing; customer_env comes with key_json")
		}
	}
	// The values themselves (modes, ports, the domain, the e-mail) are
	// checked by the steps' validation, the same as the wizard's forms;
	// only what decides which files are read is checked here.
	if t := f.TLS; t != nil {
		switch {
		case t.Mode == wizard.TLSUpload && t.CertFile == "":
			errs.add("tls.cert_file", "missing; an upload needs the certificate")
		case t.Mode == wizard.TLSUpload && t.KeyFile == "" && t.KeyEnv == "":
			errs.add("tls.key_file", "missing; an upload needs the private key (key_file or key_env)")
		case t.CertFile != "" && t.KeyFile == "" && t.KeyEnv == "":
			errs.add("tls.key_file", "missing; a certificate comes with its private key")
		case t.CertFile == "" && (t.KeyFile != "" || t.KeyEnv != ""):
			errs.add("tls.cert_file", "missing; a private key comes with its certificate")
		}
	}
	if b := f.Buckets; b != nil {
		switch {
		case b.Mode == wizard.BucketsGCS && b.GCS == nil:
			errs.add("buckets.gcs", "missing; mode gcs needs the gcs section")
		case b.Mode == wizard.BucketsS3 && b.S3 == nil:
			errs.add("buckets.s3", "missing; mode s3 needs the s3 section")
		case b.Mode == wizard.BucketsAzure && b.Azure == nil:
			errs.add("buckets.azure", "missing; mode azure needs the azure section")
		}
	}
	for i, o := range f.Overrides {
		if strings.TrimSpace(o.Check) == "" {
			errs.add(fmt.Sprintf("overrides[%d].check", i), "missing; the ID of the check to continue past, such as preflight.memory")
		}
		if strings.TrimSpace(o.Reason) == "" {
			errs.add(fmt.Sprintf("overrides[%d].reason", i), "missing; say why you continue past %s", o.Check)
		}
	}
	f.Advanced.check(errs)
	for _, r := range f.refs() {
		r.check(errs, f.dir, getenv)
	}
}

// ref is one value the file refers to: a file, or a secret given as a file
// or as an environment variable.
type ref struct {
	field    string // path of the *_file field, or of the plain path field
	file     string
	envField string // path of the *_env field, when the value may be one
	env      string
	secret   bool // a one-line secret: a trailing newline is not part of it
}

// refs lists every reference of the file.
func (f File) refs() []ref {
	var rs []ref
	file := func(field, path string) {
		if path != "" {
			rs = append(rs, ref{field: field, file: path})
		}
	}
	secret := func(base, path, env string, oneLine bool) {
		if path != "" || env != "" {
			rs = append(rs, ref{field: base + "_file", file: path, envField: base + "_env", env: env, secret: oneLine})
		}
	}
	if p := f.Package; p != nil {
		file("package.zip", p.Zip)
		file("package.customer_env", p.CustomerEnv)
		file("package.key_json", p.KeyJSON)
	}
	if db := f.Database; db != nil {
		secret("database.admin_password", db.AdminPasswordFile, db.AdminPasswordEnv, true)
		secret("database.workspace_password", db.WorkspacePasswordFile, db.WorkspacePasswordEnv, true)
		file("database.ssl_ca_file", db.SSLCAFile)
	}
	if c := f.Cache; c != nil {
		secret("cache.password", c.PasswordFile, c.PasswordEnv, true)
		file("cache.tls_ca_file", c.TLSCAFile)
	}
	if t := f.TLS; t != nil {
		file("tls.cert_file", t.CertFile)
		secret("tls.key", t.KeyFile, t.KeyEnv, false)
		file("tls.chain_file", t.ChainFile)
	}
	if b := f.Buckets; b != nil {
		if g := b.GCS; g != nil {
			secret("buckets.gcs.key", g.KeyFile, g.KeyEnv, false)
		}
		if s := b.S3; s != nil {
			secret("buckets.s3.secret_access_key", s.SecretAccessKeyFile, s.SecretAccessKeyEnv, true)
		}
		if a := b.Azure; a != nil {
			secret("buckets.azure.access_key", a.AccessKeyFile, a.AccessKeyEnv, true)
		}
	}
	return append(rs, f.Advanced.refs()...)
}

// check verifies that the reference can be read, without reading it.
func (r ref) check(errs *Error, dir string, getenv func(string) string) {
	switch {
	case r.file != "" && r.env != "":
		errs.add(r.field, "give %s or %s, not both", last(r.field), last(r.envField))
	case r.file != "":
		fh, err := os.Open(abs(dir, r.file))
		if err != nil {
			errs.add(r.field, "%s", pathError(err))
			return
		}
		defer fh.Close()
		fi, err := fh.Stat()
		switch {
		case err != nil:
			errs.add(r.field, "%s", pathError(err))
		case fi.IsDir():
			errs.add(r.field, "%s is a directory, not a file", fh.Name())
		case fi.Size() > MaxSize:
			errs.add(r.field, "%s is larger than %d MB", fh.Name(), MaxSize>>20)
		}
	case r.env != "":
		if getenv(r.env) == "" {
			errs.add(r.envField, "the environment variable %s is not set", r.env)
		}
	}
}

// read returns the referenced value.
func (r ref) read(dir string, getenv func(string) string) (string, *Problem) {
	if r.env != "" {
		v := getenv(r.env)
		if v == "" {
			return "", &Problem{r.envField, "the environment variable " + r.env + " is not set"}
		}
		return v, nil
	}
	b, err := readFile(abs(dir, r.file))
	if err != nil {
		return "", &Problem{r.field, pathError(err)}
	}
	s := string(b)
	if r.secret {
		// echo and most editors end a file with a newline that is not
		// part of the password.
		s = strings.TrimSuffix(strings.TrimSuffix(s, "\n"), "\r")
		if s == "" {
			return "", &Problem{r.field, "the file " + abs(dir, r.file) + " is empty"}
		}
	}
	return s, nil
}

func readFile(path string) ([]byte, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	b, err := io.ReadAll(io.LimitReader(fh, MaxSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxSize {
		return nil, fmt.Errorf("%s is larger than %d MB", path, MaxSize>>20)
	}
	return b, nil
}

func abs(dir, p string) string {
	if filepath.IsAbs(p) || dir == "" {
		return p
	}
	return filepath.Join(dir, p)
}

// pathError words a file error as "open /x: no such file or directory".
func pathError(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Op + " " + pe.Path + ": " + pe.Err.Error()
	}
	return err.Error()
}

func last(path string) string {
	if i := strings.LastIndexByte(path, '.'); i >= 0 {
		return path[i+1:]
	}
	return path
}
