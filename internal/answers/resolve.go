package answers

import (
	"github.com/carto-setup/carto-setup/internal/steps"
	"github.com/carto-setup/carto-setup/internal/wizard"
)

// Section names a part of the answers file that a step reads.
type Section string

// The sections of an answers file.
const (
	SectionPackage  Section = "package"
	SectionDomain   Section = "domain"
	SectionDatabase Section = "database"
	SectionCache    Section = "cache"
	SectionTLS      Section = "tls"
	SectionBuckets  Section = "buckets"
)

// Require returns an *Error naming each section that is missing from f.
// The cache section is never missing: without it the cache is embedded.
func (f File) Require(sections ...Section) error {
	errs := &Error{}
	for _, s := range sections {
		var ok bool
		switch s {
		case SectionPackage:
			ok = f.Package != nil
		case SectionDomain:
			ok = f.Domain != ""
		case SectionDatabase:
			ok = f.Database != nil
		case SectionCache:
			ok = true
		case SectionTLS:
			ok = f.TLS != nil
		case SectionBuckets:
			ok = f.Buckets != nil
		case SectionAdvanced:
			ok = true
		}
		if !ok {
			errs.add(string(s), "missing; this command needs it")
		}
	}
	return errs.orNil()
}

// Reasons returns the overrides' reasons by check ID, as the steps'
// Continue takes them.
func (f File) Reasons() map[string]string {
	out := map[string]string{}
	for _, o := range f.Overrides {
		out[o.Check] = o.Reason
	}
	return out
}

// Resolved is what an answers file says, read: each section as the input
// its step takes, nil where the section is absent. The cache is embedded
// when its section is absent, as on the wizard's page.
type Resolved struct {
	Package  *steps.PackageUpload
	Domain   *steps.DomainForm
	Database *wizard.DatabaseInput
	Cache    *wizard.CacheInput
	TLS      *steps.TLSForm
	Buckets  *steps.BucketsForm
	// Advanced is never nil: an absent section is no settings.
	Advanced *steps.AdvancedForm
}

// Resolve reads every file and secret f refers to into the steps' inputs,
// starting from the steps' defaults where the file says nothing. It
// validates nothing the steps validate. Secrets go only into the inputs.
func Resolve(f File, getenv func(string) string) (Resolved, error) {
	errs := &Error{}
	read := func(r ref) string {
		if r.file == "" && r.env == "" {
			return ""
		}
		v, p := r.read(f.dir, getenv)
		if p != nil {
			errs.Problems = append(errs.Problems, *p)
		}
		return v
	}
	file := func(field, path string) string { return read(ref{field: field, file: path}) }
	secret := func(base, path, env string) string {
		return read(ref{field: base + "_file", file: path, envField: base + "_env", env: env, secret: true})
	}

	var out Resolved
	if p := f.Package; p != nil {
		up := &steps.PackageUpload{}
		if p.Zip != "" {
			up.Zip = []byte(file("package.zip", p.Zip))
		} else {
			up.CustomerEnv, up.KeyJSON = []byte(file("package.customer_env", p.CustomerEnv)), []byte(file("package.key_json", p.KeyJSON))
		}
		out.Package = up
	}
	if f.Domain != "" {
		out.Domain = &steps.DomainForm{Domain: f.Domain}
	}
	if db := f.Database; db != nil {
		in := steps.DatabaseDefaults()
		in.Mode, in.Host = db.Mode, db.Host
		in.Port = or(db.Port, in.Port)
		in.AdminUser, in.AdminDatabase = or(db.AdminUser, in.AdminUser), or(db.AdminDatabase, in.AdminDatabase)
		in.WorkspaceUser, in.WorkspaceDatabase = or(db.WorkspaceUser, in.WorkspaceUser), or(db.WorkspaceDatabase, in.WorkspaceDatabase)
		in.AdminPassword = secret("database.admin_password", db.AdminPasswordFile, db.AdminPasswordEnv)
		in.WorkspacePassword = secret("database.workspace_password", db.WorkspacePasswordFile, db.WorkspacePasswordEnv)
		if db.SSL != nil {
			in.SSL = *db.SSL
		}
		in.SSLMode = or(db.SSLMode, in.SSLMode)
		in.CAPEM = file("database.ssl_ca_file", db.SSLCAFile)
		out.Database = &in
	}
	cache := steps.CacheDefaults()
	if c := f.Cache; c != nil {
		cache.Mode, cache.Host, cache.Port = c.Mode, c.Host, or(c.Port, cache.Port)
		cache.Password = secret("cache.password", c.PasswordFile, c.PasswordEnv)
		cache.TLS, cache.CAPEM = c.TLS, file("cache.tls_ca_file", c.TLSCAFile)
	}
	out.Cache = &cache
	if t := f.TLS; t != nil {
		out.TLS = &steps.TLSForm{
			Mode: t.Mode, CertPEM: file("tls.cert_file", t.CertFile), ChainPEM: file("tls.chain_file", t.ChainFile),
			KeyPEM:    read(ref{field: "tls.key_file", file: t.KeyFile, envField: "tls.key_env", env: t.KeyEnv}),
			ACMEEmail: t.ACMEEmail, ACMEDirectory: t.ACMEDirectory,
			// Choosing acme in an answers file accepts the CA's terms.
			AcceptTOS: true,
		}
	}
	if b := f.Buckets; b != nil {
		in := steps.BucketsDefaults()
		in.Mode, in.Imports.Name, in.Thumbnails.Name = b.Mode, b.Imports.Bucket, b.Thumbnails.Bucket
		if p := b.Imports.Public; p != nil {
			in.Imports.Public = *p
		}
		if p := b.Thumbnails.Public; p != nil {
			in.Thumbnails.Public = *p
		}
		if g := b.GCS; g != nil && b.Mode == wizard.BucketsGCS {
			in.GCSProjectID = g.ProjectID
			in.GCSKeyJSON = read(ref{field: "buckets.gcs.key_file", file: g.KeyFile, envField: "buckets.gcs.key_env", env: g.KeyEnv})
		}
		if s := b.S3; s != nil && b.Mode == wizard.BucketsS3 {
			in.S3Region, in.S3AccessKeyID, in.S3Endpoint = s.Region, s.AccessKeyID, s.Endpoint
			in.S3SecretAccessKey = secret("buckets.s3.secret_access_key", s.SecretAccessKeyFile, s.SecretAccessKeyEnv)
		}
		if a := b.Azure; a != nil && b.Mode == wizard.BucketsAzure {
			in.AzureStorageAccount = a.StorageAccount
			in.AzureAccessKey = secret("buckets.azure.access_key", a.AccessKeyFile, a.AccessKeyEnv)
		}
		out.Buckets = &steps.BucketsForm{BucketsInput: in}
	}
	out.Advanced = resolveAdvanced(f.Advanced, read)
	if err := errs.orNil(); err != nil {
		return Resolved{}, err
	}
	return out, nil
}

// or returns v, or def when v is its type's zero value.
func or[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}
