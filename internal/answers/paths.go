package answers

// fieldPaths maps the wizard's form field names, which check results carry
// in check.Result.Field, to where the same value sits in an answers file.
var fieldPaths = map[string]string{
	// package and domain steps
	"zip":          "package.zip",
	"customer_env": "package.customer_env",
	"key_json":     "package.key_json",
	"domain":       "domain",
	// database step (dbcheck's fields, and the cache's with a prefix)
	"db_mode":            "database.mode",
	"host":               "database.host",
	"port":               "database.port",
	"admin_user":         "database.admin_user",
	"admin_password":     "database.admin_password_file",
	"admin_database":     "database.admin_database",
	"workspace_user":     "database.workspace_user",
	"workspace_password": "database.workspace_password_file",
	"workspace_database": "database.workspace_database",
	"ssl_mode":           "database.ssl_mode",
	"ca":                 "database.ssl_ca_file",
	"cache_mode":         "cache.mode",
	"cache_host":         "cache.host",
	"cache_port":         "cache.port",
	"cache_password":     "cache.password_file",
	"cache_tls":          "cache.tls",
	"cache_ca":           "cache.tls_ca_file",
	// TLS step
	"tls_mode":   "tls.mode",
	"cert":       "tls.cert_file",
	"chain":      "tls.chain_file",
	"key":        "tls.key_file",
	"acme_email": "tls.acme_email",
	// buckets step (buckets.Field*)
	"buckets_mode":      "buckets.mode",
	"provider":          "buckets.mode",
	"imports_bucket":    "buckets.imports.bucket",
	"thumbnails_bucket": "buckets.thumbnails.bucket",
	"gcs_project_id":    "buckets.gcs.project_id",
	"gcs_key":           "buckets.gcs.key_file",
	"s3_access_key_id":  "buckets.s3.access_key_id",
	"s3_secret":         "buckets.s3.secret_access_key_file",
	"s3_region":         "buckets.s3.region",
	"s3_endpoint":       "buckets.s3.endpoint",
	"azure_account":     "buckets.azure.storage_account",
	"azure_key":         "buckets.azure.access_key_file",
}

// FieldPath returns the answers-file path of a wizard form field, so that a
// problem the step's validation reports names the field the admin edits;
// fallback (the section) when the field has no counterpart.
func FieldPath(field, fallback string) string {
	if p, ok := fieldPaths[field]; ok {
		return p
	}
	if p, ok := advancedFieldPath(field); ok {
		return p
	}
	return fallback
}

// Only returns f with just the given sections and the overrides, so that a
// command resolves only what its steps read.
func (f File) Only(sections ...Section) File {
	out := File{Version: f.Version, Overrides: f.Overrides, dir: f.dir}
	for _, s := range sections {
		switch s {
		case SectionPackage:
			out.Package = f.Package
		case SectionDomain:
			out.Domain = f.Domain
		case SectionDatabase:
			out.Database = f.Database
		case SectionCache:
			out.Cache = f.Cache
		case SectionTLS:
			out.TLS = f.TLS
		case SectionBuckets:
			out.Buckets = f.Buckets
		case SectionAdvanced:
			out.Advanced = f.Advanced
		}
	}
	return out
}
