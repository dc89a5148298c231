package deploy

import (
	"maps"
	"slices"

	"github.com/carto-setup/carto-setup/internal/buckets"
	"github.com/carto-setup/carto-setup/internal/wizard"
)

// bucketEnv maps custom buckets to their customer.env variables through
// buckets.EnvVars, so that the bucket checks and the install agree on one
// mapping (carto-facts §3.5). keyFile is the GCS service-account key's path
// inside the containers. IMPORT_BUCKET, which EnvVars leaves out as the
// legacy third bucket, follows the imports bucket too: CARTO's package sets
// it to CARTO's own GCS bucket, which must not stay beside
// IMPORT_PROVIDER=s3 (or azure-blob, or another project's gcp).
func bucketEnv(b wizard.BucketsInput, keyFile string) map[string]string {
	env := buckets.EnvVars(buckets.Config{
		Provider:   b.Mode,
		Imports:    buckets.Bucket{Name: b.Imports.Name, Public: b.Imports.Public},
		Thumbnails: buckets.Bucket{Name: b.Thumbnails.Name, Public: b.Thumbnails.Public},
		GCS:        buckets.GCS{ProjectID: b.GCSProjectID, KeyJSON: []byte(b.GCSKeyJSON)},
		S3: buckets.S3{Region: b.S3Region, AccessKeyID: b.S3AccessKeyID, SecretAccessKey: b.S3SecretAccessKey,
			Endpoint: b.S3Endpoint, ForcePathStyle: b.S3Endpoint != ""},
		Azure: buckets.Azure{StorageAccount: b.AzureStorageAccount, AccessKey: b.AzureAccessKey},
	}, keyFile)
	if len(env) > 0 {
		env["IMPORT_BUCKET"] = b.Imports.Name
	}
	return env
}

func sortedKeys(m map[string]string) []string {
	return slices.Sorted(maps.Keys(m))
}
