package k8sexport

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/carto-setup/carto-setup/internal/wizard"
)

// exportCase is one set of answers of the golden table.
type exportCase struct {
	name string
	st   wizard.State
	adv  Advanced
	opts Options
	// wantLosses are substrings of report lines "**[FLAVOUR] ANSWER**: TEXT"
	// that must be there: each lossy case names its loss.
	wantLosses []string
}

// export runs the case, failing the test when the answers are refused.
func (c exportCase) export(t testing.TB) Result {
	t.Helper()
	res, err := Export(c.st, c.adv, c.opts)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func fixture(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

const gcsKeyJSON = `{"type":"service_account","project_id":"gcs-project-from-key","private_key_id":"k1",` +
	`"private_key":"-----BEGIN PRIVATE KEY-----\nMIIEtestonlynotakey\n-----END PRIVATE KEY-----\n",` +
	`"client_email":"sa@gcs-project-from-key.iam.gserviceaccount.com"}`

// hostile returns a value built to break naive YAML, Markdown or shell
// output: a new line that starts a key, a comment, a flow mapping, quotes,
// anchors, tags, block indicators and a document separator. The tag keeps
// each value distinct so one leak cannot hide another.
func hostile(tag string) string {
	return tag + "\nevil: injected # not a comment\n---\n{a: b} [c] 'sq' \"dq\" *alias &anchor !tag | > % @ `tick` ``` : end"
}

// baseState is a complete install with an external database and cache,
// custom buckets and an uploaded certificate; cases change what they test.
func baseState(t testing.TB) wizard.State {
	return wizard.State{
		Schema:  wizard.SchemaVersion,
		Package: wizard.PackageInput{KeyJSON: `{"type":"service_account","private_key":"carto-licence-key-secret"}`, Summary: wizard.PackageSummary{Tenant: "tenant-1234"}},
		Domain:  wizard.DomainInput{Domain: "carto.example.com"},
		Database: wizard.DatabaseInput{
			Mode: wizard.ModeExternal, Host: "db.example.com", Port: 5433,
			AdminUser: "postgres", AdminPassword: "pg-admin-secret-1", AdminDatabase: "postgres",
			WorkspaceUser: "workspace_admin", WorkspacePassword: "pg-workspace-secret-1", WorkspaceDatabase: "workspace",
			SSL: true, SSLMode: "require", CAPEM: fixture(t, "ca.crt"),
		},
		Cache: wizard.CacheInput{Mode: wizard.ModeExternal, Host: "redis.example.com", Port: 6380, Password: "redis-secret-1"},
		TLS: wizard.TLSInput{Mode: wizard.TLSUpload, CertPEM: fixture(t, "router.crt"), KeyPEM: fixture(t, "router.key"),
			ACMEAccount: "acme-account-secret-1"},
		Buckets: wizard.BucketsInput{
			Mode:       wizard.BucketsGCS,
			Imports:    wizard.BucketInput{Name: "carto-imports", Public: false},
			Thumbnails: wizard.BucketInput{Name: "carto-thumbnails", Public: true},
			GCSKeyJSON: gcsKeyJSON,
		},
	}
}

func exportCases(t testing.TB) []exportCase {
	var cases []exportCase
	add := func(c exportCase) { cases = append(cases, c) }

	// Everything on the VM: embedded database and cache, self-signed
	// certificate, CARTO's buckets.
	st := baseState(t)
	st.Database = wizard.DatabaseInput{Mode: wizard.ModeEmbedded, AdminPassword: "embedded-admin-secret", WorkspacePassword: "embedded-ws-secret"}
	st.Cache = wizard.CacheInput{Mode: wizard.ModeEmbedded}
	st.TLS.Mode = wizard.TLSSelfSigned
	st.Buckets = wizard.BucketsInput{Mode: wizard.BucketsCartoManaged}
	add(exportCase{name: "embedded-selfsigned-cartomanaged", st: st, wantLosses: []string{
		"**[Helm and KOTS] database.mode**: the embedded PostgreSQL",
		"**[KOTS] tls.mode**: KOTS has no self-signed option",
		"**[KOTS] buckets.mode**: KOTS has no CARTO-managed buckets choice",
		"**[Helm and KOTS] package**: the licence-owned values are not exported",
		"the encryption key must stay the same",
	}})

	// External database with SSL require and admin credentials, Redis
	// without TLS, an uploaded certificate, GCS with the project taken
	// from the key.
	st = baseState(t)
	add(exportCase{name: "external-require-gcs", st: st, wantLosses: []string{
		"**[KOTS] database.admin_user**: KOTS takes no admin credentials",
		`CREATE ROLE "workspace_admin" LOGIN PASSWORD 'the workspace password';`,
		`CREATE DATABASE "workspace" OWNER "workspace_admin";`,
		"**[KOTS] buckets.gcs.key_file**: KOTS takes no service-account key",
		"**[KOTS] buckets.imports.public**: KOTS has no item",
	}})

	// verify-full with a CA, Redis over TLS with a CA, a Let's Encrypt
	// certificate, S3, and every advanced setting, some of them lossy.
	st = baseState(t)
	st.Database.SSLMode = "verify-full"
	st.Cache.TLS, st.Cache.CAPEM = true, fixture(t, "ca.crt")
	st.TLS.Mode, st.TLS.ACMEEmail = wizard.TLSACME, "admin@example.com"
	st.Buckets = wizard.BucketsInput{Mode: wizard.BucketsS3,
		Imports: wizard.BucketInput{Name: "s3-imports"}, Thumbnails: wizard.BucketInput{Name: "s3-thumbs", Public: true},
		S3Region: "eu-west-1", S3AccessKeyID: "AKIATESTKEYID", S3SecretAccessKey: "s3-secret-access-key-1"}
	add(exportCase{name: "verifyfull-acme-s3-advanced", st: st,
		adv: Advanced{
			HTTPProxy:        "http://proxyuser:proxy-password-1@proxy.example.com:3128",
			HTTPSProxy:       "https://secure-proxy.example.com",
			NoProxy:          "localhost, .internal.example.com,,10.0.0.0/8",
			CABundlePEM:      fixture(t, "ca.crt"),
			GoogleMapsAPIKey: "maps-api-key-secret-1",
			ExtraEnv: []EnvVar{
				{Name: "BIGQUERY_OAUTH2_CLIENT_ID", Value: "bq-client.apps.example.com"},
				{Name: "BIGQUERY_OAUTH2_CLIENT_SECRET", Value: "bq-client-secret-1"},
				{Name: "REACT_APP_BIGQUERY_OAUTH", Value: "true"},
				{Name: "IFRAME_ALLOWED_DOMAINS", Value: "https://intranet.example.com"},
				{Name: "IMPORT_BUCKET", Value: "legacy-import-bucket"},
				{Name: "WORKSPACE_THUMBNAILS_PROVIDER", Value: "gcp"},
				{Name: "WORKSPACE_IMPORTS_REGION", Value: "eu-west-1"},
				{Name: "HTTP_PROXY", Value: "http://other-proxy:8080"},
			},
		},
		wantLosses: []string{
			"**[Helm and KOTS] database.ssl_mode**: sslmode verify-full is reduced to SSL on",
			"**[Helm and KOTS] tls.mode**: Let's Encrypt renewal does not carry over: the exported certificate expires on",
			"**[Helm and KOTS] IMPORT_BUCKET**: the legacy third bucket (IMPORT_BUCKET) has no equivalent",
			"**[Helm and KOTS] extra_env.WORKSPACE_THUMBNAILS_PROVIDER**: per-bucket storage settings differ",
			"**[Helm and KOTS] extra_env.IFRAME_ALLOWED_DOMAINS**: no chart value or KOTS item takes it: with Helm it is only reachable through the extraEnvVars",
			"**[Helm and KOTS] extra_env.HTTP_PROXY**: not exported: the proxy answer is what carries over",
			"**[Helm and KOTS] proxy.http_proxy**: the proxy user name and password are dropped",
			"**[Helm] proxy.http_proxy**: HTTP_PROXY and HTTPS_PROXY name different proxies",
			"**[KOTS] proxy.https_proxy**: KOTS reads the proxy from its installer",
			"--http-proxy http://proxy.example.com:3128 --https-proxy https://secure-proxy.example.com --no-proxy localhost,.internal.example.com,10.0.0.0/8",
			"**[KOTS] ca_bundle**: KOTS takes extra trusted CAs from its installer",
		},
	})

	// verify-ca without a CA and Redis over TLS without a CA or password:
	// KOTS wants files and a password it cannot get. S3-compatible store.
	st = baseState(t)
	st.Database.SSLMode, st.Database.CAPEM = "verify-ca", ""
	st.Database.AdminUser, st.Database.AdminPassword, st.Database.AdminDatabase = "", "", ""
	st.Cache.TLS, st.Cache.Password, st.Cache.Port = true, "", 0
	st.Buckets = wizard.BucketsInput{Mode: wizard.BucketsS3,
		Imports: wizard.BucketInput{Name: "minio-imports"}, Thumbnails: wizard.BucketInput{Name: "minio-thumbs", Public: true},
		S3AccessKeyID: "minioadmin-id", S3SecretAccessKey: "minio-secret-1", S3Endpoint: "https://minio.example.com:9000"}
	add(exportCase{name: "verifyca-noca-s3compatible", st: st, wantLosses: []string{
		"**[Helm and KOTS] database.ssl_mode**: sslmode verify-ca is reduced to SSL on",
		"**[KOTS] database.ssl_ca_file**: KOTS requires an SSL certificate file (metadataDBSSLCertificate)",
		"**[KOTS] cache.password**: KOTS requires a password for an external Redis",
		"**[KOTS] cache.tls_ca_file**: KOTS requires an SSL/TLS certificate file (externalRedisTLSCertificate)",
		"**[KOTS] buckets.s3.endpoint**: KOTS has no item for an S3-compatible endpoint",
	}})

	// SSL off with a CA on file, Azure, the Google Maps key, a legacy
	// IMPORT_BUCKET in CARTO's customer.env, and references to Kubernetes
	// Secrets instead of secret values.
	st = baseState(t)
	st.Database.SSL, st.Database.SSLMode = false, "disable"
	st.Cache = wizard.CacheInput{Mode: wizard.ModeEmbedded}
	st.Package.CustomerEnv = "# CARTO package\nSELFHOSTED_DOMAIN=carto.example.com\nIMPORT_BUCKET=old-import-bucket\n"
	st.Buckets = wizard.BucketsInput{Mode: wizard.BucketsAzure,
		Imports: wizard.BucketInput{Name: "az-imports"}, Thumbnails: wizard.BucketInput{Name: "az-thumbs", Public: true},
		AzureStorageAccount: "cartostorage", AzureAccessKey: "azure-access-key-secret-1=="}
	add(exportCase{name: "sslon-off-azure-secretrefs", st: st, opts: Options{SecretRefs: true},
		adv: Advanced{GoogleMapsAPIKey: "maps-api-key-secret-2", ExtraEnv: []EnvVar{{Name: "BIGQUERY_OAUTH2_CLIENT_SECRET", Value: "bq-secret-refs-1"}}},
		wantLosses: []string{
			"**[Helm and KOTS] database.ssl_ca_file**: not exported: SSL to the database is off",
			"**[Helm and KOTS] IMPORT_BUCKET**: the legacy third bucket",
			"**[Helm and KOTS] extra_env.BIGQUERY_OAUTH2_CLIENT_SECRET**: not exported: without BIGQUERY_OAUTH2_CLIENT_ID",
		}})

	// Hostile values everywhere a value is copied: they must come out as
	// the same strings and never as structure.
	st = baseState(t)
	st.Domain.Domain = hostile("domain")
	st.Database.Host = hostile("dbhost")
	st.Database.WorkspaceUser = hostile("dbuser")
	st.Database.WorkspaceDatabase = hostile("dbname")
	st.Database.WorkspacePassword = hostile("dbpassword")
	st.Database.AdminUser = hostile("adminuser")
	st.Database.AdminPassword = hostile("adminpassword")
	st.Cache.Host = hostile("redishost")
	st.Cache.Password = hostile("redispassword")
	st.Buckets = wizard.BucketsInput{Mode: wizard.BucketsS3,
		Imports: wizard.BucketInput{Name: hostile("imports")}, Thumbnails: wizard.BucketInput{Name: hostile("thumbs")},
		S3Region: hostile("region"), S3AccessKeyID: hostile("keyid"), S3SecretAccessKey: hostile("s3secret"),
		S3Endpoint: "https://s3.example.com/" + strings.ReplaceAll(hostile("path"), "\n", "%0A")}
	add(exportCase{name: "hostile-values", st: st,
		adv: Advanced{NoProxy: hostile("noproxy"), HTTPSProxy: "http://proxy.example.com:8080", GoogleMapsAPIKey: hostile("mapskey"),
			ExtraEnv: []EnvVar{{Name: "BIGQUERY_OAUTH2_CLIENT_ID", Value: hostile("bqid")}, {Name: "BIGQUERY_OAUTH2_CLIENT_SECRET", Value: hostile("bqsecret")}}},
		wantLosses: []string{"CREATE ROLE \"dbuser\n", `{a: b} [c] 'sq' ""dq"" *alias`, "````sql"},
	})
	return cases
}
