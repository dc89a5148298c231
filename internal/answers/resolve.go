package answers

import (
	"bytes"

	"github.com/carto-setup/carto-setup/internal/check"
	"github.com/carto-setup/carto-setup/internal/custpkg"
	"github.com/carto-setup/carto-setup/internal/domaincheck"
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
		}
		if !ok {
			errs.add(string(s), "missing; this command needs it")
		}
	}
	return errs.orNil()
}

// Reasons returns the overrides' reasons by check ID, as wizard.Gate takes
// them.
func (f File) Reasons() map[string]string {
	out := map[string]string{}
	for _, o := range f.Overrides {
		out[o.Check] = o.Reason
	}
	return out
}

// Resolved is what an answers file says, read: the wizard state its
// sections describe, the customer package's validation when it has a
// package, and the uploaded chain (the state keeps only the full chain the
// TLS step builds from it).
type Resolved struct {
	State    wizard.State
	Package  []check.Result
	TLSChain string
}

// Resolve reads every file and secret f refers to and fills a state with
// the sections f has, as the wizard's forms would (with their defaults).
// The customer package is validated against the release rel as the package
// step does: a package that fails is left out of the state, as the wizard
// refuses it, and its results say why. Secrets go only into the state.
func Resolve(f File, getenv func(string) string, rel custpkg.Release) (Resolved, error) {
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
	st := &out.State
	st.Schema = wizard.SchemaVersion
	st.Done = map[wizard.Step]bool{}
	if p := f.Package; p != nil {
		var (
			files   custpkg.Files
			results []check.Result
			sum     custpkg.Summary
		)
		if p.Zip != "" {
			data := file("package.zip", p.Zip)
			files, results, sum = custpkg.ValidateZip(bytes.NewReader([]byte(data)), int64(len(data)), rel)
		} else {
			env, key := file("package.customer_env", p.CustomerEnv), file("package.key_json", p.KeyJSON)
			files, results, sum = custpkg.ValidateFiles([]byte(env), []byte(key), rel)
		}
		out.Package = results
		if !check.Failed(results) {
			st.Package = wizard.PackageInput{
				CustomerEnv: string(files.CustomerEnv), KeyJSON: string(files.KeyJSON),
				Summary: wizard.PackageSummary{Tenant: sum.TenantID, PackageVersion: sum.PackageVersion, ServiceAccount: sum.ServiceAccount, Project: sum.GCPProject},
			}
		}
	}
	if f.Domain != "" {
		domain, _ := domaincheck.Validate(f.Domain) // Parse refused a bad one
		st.Domain = wizard.DomainInput{Domain: domain}
	}
	if db := f.Database; db != nil {
		ssl := db.SSL == nil || *db.SSL
		in := wizard.DatabaseInput{
			Mode: db.Mode, Host: db.Host, Port: or(db.Port, 5432), AdminUser: orS(db.AdminUser, "postgres"),
			AdminPassword: secret("database.admin_password", db.AdminPasswordFile, db.AdminPasswordEnv),
			AdminDatabase: orS(db.AdminDatabase, "postgres"), WorkspaceUser: orS(db.WorkspaceUser, "workspace_admin"),
			WorkspacePassword: secret("database.workspace_password", db.WorkspacePasswordFile, db.WorkspacePasswordEnv),
			WorkspaceDatabase: orS(db.WorkspaceDatabase, "workspace"), SSL: ssl, SSLMode: orS(db.SSLMode, "require"),
			CAPEM: file("database.ssl_ca_file", db.SSLCAFile),
		}
		if !in.SSL {
			in.SSLMode = "disable" // as the form does
		}
		st.Database = in
	}
	st.Cache = wizard.CacheInput{Mode: wizard.ModeEmbedded, Port: 6379}
	if c := f.Cache; c != nil {
		st.Cache = wizard.CacheInput{
			Mode: c.Mode, Host: c.Host, Port: or(c.Port, 6379),
			Password: secret("cache.password", c.PasswordFile, c.PasswordEnv),
			TLS:      c.TLS, CAPEM: file("cache.tls_ca_file", c.TLSCAFile),
		}
	}
	if t := f.TLS; t != nil {
		st.TLS = wizard.TLSInput{
			Mode: t.Mode, CertPEM: file("tls.cert_file", t.CertFile),
			KeyPEM:    read(ref{field: "tls.key_file", file: t.KeyFile, envField: "tls.key_env", env: t.KeyEnv}),
			ACMEEmail: t.ACMEEmail, ACMEDirectory: t.ACMEDirectory,
		}
		out.TLSChain = file("tls.chain_file", t.ChainFile)
	}
	if b := f.Buckets; b != nil {
		in := wizard.BucketsInput{
			Mode:       b.Mode,
			Imports:    wizard.BucketInput{Name: b.Imports.Bucket, Public: b.Imports.Public},
			Thumbnails: wizard.BucketInput{Name: b.Thumbnails.Bucket, Public: b.Thumbnails.Public},
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
		st.Buckets = in
	}
	if err := errs.orNil(); err != nil {
		return Resolved{}, err
	}
	return out, nil
}

func or(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

func orS(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
