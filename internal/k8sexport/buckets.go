package k8sexport

import (
	"encoding/json"
	"strings"

	"github.com/carto-setup/carto-setup/internal/buckets"
	"github.com/carto-setup/carto-setup/internal/envfile"
	"github.com/carto-setup/carto-setup/internal/wizard"
)

// storage names one bucket provider in each flavour.
type storage struct {
	helm string // appConfigValues.storageProvider
	kots string // storageBucketsBehaviour
}

var storages = map[string]storage{
	wizard.BucketsGCS:   {"gcp", "custom_gcs"},
	wizard.BucketsS3:    {"s3", "custom_aws_s3"},
	wizard.BucketsAzure: {"azure-blob", "custom_azb"},
}

func (b *builder) buckets() {
	bk := b.st.Buckets
	b.importBucket()
	if bk.Mode == wizard.BucketsCartoManaged {
		b.helmNote("buckets.mode", "not set: CARTO's Kubernetes package (carto-values.yaml) configures the CARTO-managed buckets")
		b.lose(FlavourKOTS, "buckets.mode",
			"KOTS has no CARTO-managed buckets choice: storageBucketsBehaviour takes your own Google Cloud Storage, "+
				"S3 or Azure Blob buckets, and the Temp and Assets bucket names are required. Create two buckets "+
				"(with the CORS rules CARTO documents) and enter them in the KOTS admin console.")
		return
	}
	s := storages[bk.Mode]
	b.val("buckets.mode", "appConfigValues.storageProvider", s.helm)
	b.kv("buckets.mode", "storageBucketsBehaviour", s.kots)

	b.val("buckets.imports.bucket", "appConfigValues.workspaceImportsBucket", bk.Imports.Name)
	b.kv("buckets.imports.bucket", "storageBucketsWorkspaceImports", bk.Imports.Name)
	b.val("buckets.imports.public", "appConfigValues.workspaceImportsPublic", bk.Imports.Public)
	b.lose(FlavourKOTS, "buckets.imports.public",
		"KOTS has no item for whether the imports (Temp) bucket is public; it applies its own setting.")
	b.val("buckets.thumbnails.bucket", "appConfigValues.workspaceThumbnailsBucket", bk.Thumbnails.Name)
	b.kv("buckets.thumbnails.bucket", "storageBucketsThumbnails", bk.Thumbnails.Name)
	b.val("buckets.thumbnails.public", "appConfigValues.workspaceThumbnailsPublic", bk.Thumbnails.Public)
	b.kv("buckets.thumbnails.public", "storageBucketsThumbnailsIsPublic", boolItem(bk.Thumbnails.Public))

	switch bk.Mode {
	case wizard.BucketsGCS:
		project := gcsProject(bk)
		b.val("buckets.gcs.project_id", "appConfigValues.googleCloudStorageProjectId", project)
		b.kv("buckets.gcs.project_id", "storageBucketsGcpProjectId", project)
		b.appSecret("buckets.gcs.key_file", "googleCloudStorageServiceAccountKey", "gcs-service-account-key", bk.GCSKeyJSON)
		b.lose(FlavourKOTS, "buckets.gcs.key_file",
			"KOTS takes no service-account key for the buckets: it reaches them as the CARTO Platform service account "+
				"(Advanced Config, cartoPlatformGoogleSA). Grant that account read and write on both buckets, "+
				"or replace the credentials there as CARTO's documentation describes.")
	case wizard.BucketsS3:
		region := bk.S3Region
		if region == "" {
			region = "us-east-1" // what this install's customer.env uses (internal/buckets)
		}
		b.val("buckets.s3.region", "appConfigValues.awsS3Region", region)
		b.kv("buckets.s3.region", "storageBucketsAwsS3Region", region)
		b.appSecret("buckets.s3.access_key_id", "awsAccessKeyId", "aws-access-key-id", bk.S3AccessKeyID)
		b.kv("buckets.s3.access_key_id", "storageBucketsAwsAccessKeyId", bk.S3AccessKeyID)
		b.appSecret("buckets.s3.secret_access_key", "awsAccessKeySecret", "aws-access-key-secret", bk.S3SecretAccessKey)
		b.kv("buckets.s3.secret_access_key", "storageBucketsAwsAccessKeySecret", bk.S3SecretAccessKey)
		if bk.S3Endpoint != "" {
			b.val("buckets.s3.endpoint", "appConfigValues.s3Endpoint", bk.S3Endpoint)
			b.val("buckets.s3.endpoint", "appConfigValues.s3ForcePathStyle", true)
			b.lose(FlavourKOTS, "buckets.s3.endpoint",
				"KOTS has no item for an S3-compatible endpoint: its S3 choice reaches Amazon S3 only. "+
					"Use the Helm chart, or buckets on Amazon S3.")
		}
	case wizard.BucketsAzure:
		b.val("buckets.azure.storage_account", "appConfigValues.azureStorageAccount", bk.AzureStorageAccount)
		b.kv("buckets.azure.storage_account", "storageBucketsAzureStorageAccount", bk.AzureStorageAccount)
		b.appSecret("buckets.azure.access_key", "azureStorageAccessKey", "azure-storage-access-key", bk.AzureAccessKey)
		b.kv("buckets.azure.access_key", "storageBucketsAzureAccessKey", bk.AzureAccessKey)
	}
}

// gcsProject is the project the install uses: the answer, or the key's own
// project as internal/buckets derives it.
func gcsProject(bk wizard.BucketsInput) string {
	if bk.GCSProjectID != "" {
		return bk.GCSProjectID
	}
	var sa struct {
		ProjectID string `json:"project_id"`
	}
	_ = json.Unmarshal([]byte(bk.GCSKeyJSON), &sa) // validated by the buckets step; empty when not
	return sa.ProjectID
}

// importBucket reports the legacy IMPORT_BUCKET wherever this install has
// it: in CARTO's customer.env or among the extra variables.
func (b *builder) importBucket() {
	set := false
	if f, err := envfile.Parse([]byte(b.st.Package.CustomerEnv)); err == nil {
		if v, ok := f.Get("IMPORT_BUCKET"); ok && v != "" {
			set = true
		}
	}
	for _, e := range b.adv.ExtraEnv {
		if e.Name == "IMPORT_BUCKET" && e.Value != "" {
			set = true
		}
	}
	if set {
		b.lose(FlavourBoth, "IMPORT_BUCKET",
			"the legacy third bucket (IMPORT_BUCKET) has no equivalent in the chart or in KOTS: imports use the imports "+
				"bucket (workspaceImportsBucket, storageBucketsWorkspaceImports). Nothing of it is exported.")
	}
}

// isBucketVar reports whether an extra variable is one of the per-bucket
// settings the buckets answer already writes.
func isBucketVar(name string) bool {
	for _, p := range []string{"WORKSPACE_IMPORTS_", "WORKSPACE_THUMBNAILS_", "IMPORT_"} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// bucketVar maps an extra per-bucket variable. The chart and KOTS take one
// provider and one credential set for all buckets, so a variable that says
// something else for one bucket is lost; one that repeats the buckets answer
// is carried by it.
func (b *builder) bucketVar(e EnvVar) {
	answer := "extra_env." + e.Name
	switch {
	case e.Name == "IMPORT_BUCKET":
		b.helmNote(answer, "see IMPORT_BUCKET")
		b.kotsNote(answer, "see IMPORT_BUCKET")
		return
	case strings.HasSuffix(e.Name, "_KEYFILENAME"):
		b.lose(FlavourBoth, answer,
			"a key file path inside the Docker containers: not exported; in Kubernetes the buckets key comes from the buckets answer.")
		return
	}
	bk := b.st.Buckets
	want := buckets.EnvVars(buckets.Config{
		Provider:   bk.Mode,
		Imports:    buckets.Bucket{Name: bk.Imports.Name, Public: bk.Imports.Public},
		Thumbnails: buckets.Bucket{Name: bk.Thumbnails.Name, Public: bk.Thumbnails.Public},
		GCS:        buckets.GCS{ProjectID: bk.GCSProjectID, KeyJSON: []byte(bk.GCSKeyJSON)},
		S3: buckets.S3{Region: bk.S3Region, AccessKeyID: bk.S3AccessKeyID, SecretAccessKey: bk.S3SecretAccessKey,
			Endpoint: bk.S3Endpoint, ForcePathStyle: bk.S3Endpoint != ""},
		Azure: buckets.Azure{StorageAccount: bk.AzureStorageAccount, AccessKey: bk.AzureAccessKey},
	}, "")
	if v, ok := want[e.Name]; ok && v == e.Value {
		b.helmNote(answer, "same as the buckets answer, carried by it")
		b.kotsNote(answer, "same as the buckets answer, carried by it")
		return
	}
	b.lose(FlavourBoth, answer,
		"per-bucket storage settings differ: this variable gives one bucket another provider or other credentials than "+
			"the buckets answer (%s). The chart (one appConfigValues.storageProvider and one set of appSecrets) and KOTS "+
			"(one storageBucketsBehaviour) take one provider and one credential set for all buckets, so the buckets "+
			"answer was exported and this variable dropped.", bk.Mode)
}
