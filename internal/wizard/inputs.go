package wizard

// Modes of the steps that offer a choice.
const (
	ModeEmbedded = "embedded"
	ModeExternal = "external"

	TLSSelfSigned = "self-signed"
	TLSUpload     = "upload"
	TLSACME       = "acme"

	BucketsCartoManaged = "carto-managed"
	BucketsGCS          = "gcs"
	BucketsS3           = "s3"
	BucketsAzure        = "azure"
)

// PackageInput is the uploaded customer package. The files are kept here
// until the install writes them into the release directory.
type PackageInput struct {
	CustomerEnv string         `json:"customer_env,omitempty"` // the file as CARTO sent it
	KeyJSON     string         `json:"key_json,omitempty" secret:"key.json"`
	Summary     PackageSummary `json:"summary"`
}

// PackageSummary is what the admin is shown about the package; no secret.
type PackageSummary struct {
	Tenant         string `json:"tenant"`
	PackageVersion string `json:"package_version"`
	ServiceAccount string `json:"service_account"`
	Project        string `json:"project"`
}

// DatabaseInput is the metadata PostgreSQL (carto-facts 3.2).
type DatabaseInput struct {
	Mode              string `json:"mode"` // ModeEmbedded or ModeExternal
	Host              string `json:"host,omitempty"`
	Port              int    `json:"port,omitempty"`
	AdminUser         string `json:"admin_user,omitempty"`
	AdminPassword     string `json:"admin_password,omitempty" secret:"database admin password"`
	AdminDatabase     string `json:"admin_database,omitempty"`
	WorkspaceUser     string `json:"workspace_user,omitempty"`
	WorkspacePassword string `json:"workspace_password,omitempty" secret:"database workspace password"`
	WorkspaceDatabase string `json:"workspace_database,omitempty"`
	SSL               bool   `json:"ssl,omitempty"`
	SSLMode           string `json:"ssl_mode,omitempty"` // disable, require, verify-ca, verify-full
	CAPEM             string `json:"ca_pem,omitempty"`
}

// CacheInput is the Redis/Valkey cache (carto-facts 3.3).
type CacheInput struct {
	Mode     string `json:"mode"` // ModeEmbedded or ModeExternal
	Host     string `json:"host,omitempty"`
	Port     int    `json:"port,omitempty"`
	Password string `json:"password,omitempty" secret:"cache password"`
	TLS      bool   `json:"tls,omitempty"`
	CAPEM    string `json:"ca_pem,omitempty"`
}

// TLSInput is the router certificate (carto-facts 3.4). For every mode the
// certificate and key the install will write end up in CertPEM and KeyPEM.
type TLSInput struct {
	Mode          string `json:"mode"`               // TLSSelfSigned, TLSUpload or TLSACME
	CertPEM       string `json:"cert_pem,omitempty"` // full chain, leaf first
	KeyPEM        string `json:"key_pem,omitempty" secret:"router certificate private key"`
	Fingerprint   string `json:"fingerprint,omitempty"`
	ACMEEmail     string `json:"acme_email,omitempty"`
	ACMEDirectory string `json:"acme_directory,omitempty"`
	ACMEAccount   string `json:"acme_account_key,omitempty" secret:"ACME account key"`
}

// BucketInput is one bucket.
type BucketInput struct {
	Name   string `json:"bucket"`
	Public bool   `json:"public"`
}

// BucketsInput is the storage for imports and thumbnails (carto-facts 3.5).
type BucketsInput struct {
	Mode       string      `json:"mode"` // BucketsCartoManaged, BucketsGCS, BucketsS3 or BucketsAzure
	Imports    BucketInput `json:"imports"`
	Thumbnails BucketInput `json:"thumbnails"`

	GCSProjectID string `json:"gcs_project_id,omitempty"`
	GCSKeyJSON   string `json:"gcs_key_json,omitempty" secret:"bucket service-account key"`

	S3Region          string `json:"s3_region,omitempty"`
	S3AccessKeyID     string `json:"s3_access_key_id,omitempty"`
	S3SecretAccessKey string `json:"s3_secret_access_key,omitempty" secret:"S3 secret access key"`
	S3Endpoint        string `json:"s3_endpoint,omitempty"`

	AzureStorageAccount string `json:"azure_storage_account,omitempty"`
	AzureAccessKey      string `json:"azure_access_key,omitempty" secret:"Azure storage access key"`
}

// OnlyMode returns the buckets with the settings of the providers not
// chosen dropped, secrets included: a key typed for a provider the admin
// then left must not stay in the state or its answers export.
func (b BucketsInput) OnlyMode() BucketsInput {
	out := BucketsInput{Mode: b.Mode, Imports: b.Imports, Thumbnails: b.Thumbnails}
	switch b.Mode {
	case BucketsGCS:
		out.GCSProjectID, out.GCSKeyJSON = b.GCSProjectID, b.GCSKeyJSON
	case BucketsS3:
		out.S3Region, out.S3AccessKeyID, out.S3SecretAccessKey, out.S3Endpoint = b.S3Region, b.S3AccessKeyID, b.S3SecretAccessKey, b.S3Endpoint
	case BucketsAzure:
		out.AzureStorageAccount, out.AzureAccessKey = b.AzureStorageAccount, b.AzureAccessKey
	default:
		out.Imports, out.Thumbnails = BucketInput{}, BucketInput{Public: b.Thumbnails.Public}
	}
	return out
}

// OnlyMode returns the database settings with those of the mode not
// chosen dropped: the embedded database has no host, TLS or CA (its
// passwords are its own admin's and workspace user's).
func (d DatabaseInput) OnlyMode() DatabaseInput {
	if d.Mode == ModeEmbedded {
		d.Host, d.Port, d.SSL, d.SSLMode, d.CAPEM = "", 0, false, "disable", ""
	}
	return d
}

// OnlyMode returns the cache settings with those of the mode not chosen
// dropped: the embedded cache has no host, password or CA.
func (c CacheInput) OnlyMode() CacheInput {
	if c.Mode == ModeEmbedded {
		return CacheInput{Mode: c.Mode, Port: 6379}
	}
	return c
}
