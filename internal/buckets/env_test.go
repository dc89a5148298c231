package buckets

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestEnvVars(t *testing.T) {
	saKey := []byte(`{"type":"service_account","project_id":"key-project"}`)
	tests := []struct {
		name string
		cfg  Config
		path string
		want map[string]string
	}{
		{
			name: "gcs project from key",
			cfg: Config{Provider: ProviderGCS, Imports: Bucket{Name: "imp"}, Thumbnails: Bucket{Name: "thumb", Public: true},
				GCS: GCS{KeyJSON: saKey}},
			path: "/usr/src/certs/gcp-buckets.json",
			want: map[string]string{
				"IMPORT_PROVIDER": "gcp", "IMPORT_KEYFILENAME": "/usr/src/certs/gcp-buckets.json", "IMPORT_PROJECTID": "key-project",
				"WORKSPACE_THUMBNAILS_PROVIDER": "gcp", "WORKSPACE_THUMBNAILS_BUCKET": "thumb", "WORKSPACE_THUMBNAILS_PUBLIC": "true",
				"WORKSPACE_THUMBNAILS_KEYFILENAME": "/usr/src/certs/gcp-buckets.json", "WORKSPACE_THUMBNAILS_PROJECTID": "key-project",
				"WORKSPACE_IMPORTS_PROVIDER": "gcp", "WORKSPACE_IMPORTS_BUCKET": "imp", "WORKSPACE_IMPORTS_PUBLIC": "false",
				"WORKSPACE_IMPORTS_KEYFILENAME": "/usr/src/certs/gcp-buckets.json", "WORKSPACE_IMPORTS_PROJECTID": "key-project",
			},
		},
		{
			name: "gcs explicit project wins",
			cfg: Config{Provider: ProviderGCS, Imports: Bucket{Name: "imp"}, Thumbnails: Bucket{Name: "thumb"},
				GCS: GCS{KeyJSON: saKey, ProjectID: "billing-project"}},
			path: "/k.json",
			want: map[string]string{
				"IMPORT_PROVIDER": "gcp", "IMPORT_KEYFILENAME": "/k.json", "IMPORT_PROJECTID": "billing-project",
				"WORKSPACE_THUMBNAILS_PROVIDER": "gcp", "WORKSPACE_THUMBNAILS_BUCKET": "thumb", "WORKSPACE_THUMBNAILS_PUBLIC": "false",
				"WORKSPACE_THUMBNAILS_KEYFILENAME": "/k.json", "WORKSPACE_THUMBNAILS_PROJECTID": "billing-project",
				"WORKSPACE_IMPORTS_PROVIDER": "gcp", "WORKSPACE_IMPORTS_BUCKET": "imp", "WORKSPACE_IMPORTS_PUBLIC": "false",
				"WORKSPACE_IMPORTS_KEYFILENAME": "/k.json", "WORKSPACE_IMPORTS_PROJECTID": "billing-project",
			},
		},
		{
			name: "s3 on aws has no endpoint keys",
			cfg: Config{Provider: ProviderS3, Imports: Bucket{Name: "imp"}, Thumbnails: Bucket{Name: "thumb", Public: true},
				S3: S3{Region: "eu-west-1", AccessKeyID: "AKIA1", SecretAccessKey: "s3cr3t"}},
			path: "/ignored.json",
			want: map[string]string{
				"IMPORT_PROVIDER": "s3", "IMPORT_ACCESSKEYID": "AKIA1", "IMPORT_SECRETACCESSKEY": "s3cr3t", "IMPORT_REGION": "eu-west-1",
				"WORKSPACE_THUMBNAILS_PROVIDER": "s3", "WORKSPACE_THUMBNAILS_BUCKET": "thumb", "WORKSPACE_THUMBNAILS_PUBLIC": "true",
				"WORKSPACE_THUMBNAILS_ACCESSKEYID": "AKIA1", "WORKSPACE_THUMBNAILS_SECRETACCESSKEY": "s3cr3t", "WORKSPACE_THUMBNAILS_REGION": "eu-west-1",
				"WORKSPACE_IMPORTS_PROVIDER": "s3", "WORKSPACE_IMPORTS_BUCKET": "imp", "WORKSPACE_IMPORTS_PUBLIC": "false",
				"WORKSPACE_IMPORTS_ACCESSKEYID": "AKIA1", "WORKSPACE_IMPORTS_SECRETACCESSKEY": "s3cr3t", "WORKSPACE_IMPORTS_REGION": "eu-west-1",
			},
		},
		{
			name: "s3 compatible endpoint",
			cfg: Config{Provider: ProviderS3, Imports: Bucket{Name: "imp"}, Thumbnails: Bucket{Name: "thumb"},
				S3: S3{AccessKeyID: "minio", SecretAccessKey: "minio123", Endpoint: "https://minio.example.com", ForcePathStyle: true}},
			want: map[string]string{
				"IMPORT_PROVIDER": "s3", "IMPORT_ACCESSKEYID": "minio", "IMPORT_SECRETACCESSKEY": "minio123", "IMPORT_REGION": "us-east-1",
				"IMPORT_ENDPOINT": "https://minio.example.com", "IMPORT_EXTERNAL_URL": "https://minio.example.com", "IMPORT_FORCE_PATH_STYLE": "true",
				"WORKSPACE_THUMBNAILS_PROVIDER": "s3", "WORKSPACE_THUMBNAILS_BUCKET": "thumb", "WORKSPACE_THUMBNAILS_PUBLIC": "false",
				"WORKSPACE_THUMBNAILS_ACCESSKEYID": "minio", "WORKSPACE_THUMBNAILS_SECRETACCESSKEY": "minio123", "WORKSPACE_THUMBNAILS_REGION": "us-east-1",
				"WORKSPACE_THUMBNAILS_ENDPOINT": "https://minio.example.com", "WORKSPACE_THUMBNAILS_EXTERNAL_URL": "https://minio.example.com", "WORKSPACE_THUMBNAILS_FORCE_PATH_STYLE": "true",
				"WORKSPACE_IMPORTS_PROVIDER": "s3", "WORKSPACE_IMPORTS_BUCKET": "imp", "WORKSPACE_IMPORTS_PUBLIC": "false",
				"WORKSPACE_IMPORTS_ACCESSKEYID": "minio", "WORKSPACE_IMPORTS_SECRETACCESSKEY": "minio123", "WORKSPACE_IMPORTS_REGION": "us-east-1",
				"WORKSPACE_IMPORTS_ENDPOINT": "https://minio.example.com", "WORKSPACE_IMPORTS_EXTERNAL_URL": "https://minio.example.com", "WORKSPACE_IMPORTS_FORCE_PATH_STYLE": "true",
			},
		},
		{
			name: "azure",
			cfg: Config{Provider: ProviderAzure, Imports: Bucket{Name: "imp"}, Thumbnails: Bucket{Name: "thumb", Public: true},
				Azure: Azure{StorageAccount: "acct", AccessKey: "a2V5"}},
			want: map[string]string{
				"IMPORT_PROVIDER": "azure-blob", "IMPORT_STORAGE_ACCOUNT": "acct", "IMPORT_STORAGE_ACCESSKEY": "a2V5",
				"WORKSPACE_THUMBNAILS_PROVIDER": "azure-blob", "WORKSPACE_THUMBNAILS_BUCKET": "thumb", "WORKSPACE_THUMBNAILS_PUBLIC": "true",
				"WORKSPACE_THUMBNAILS_STORAGE_ACCOUNT": "acct", "WORKSPACE_THUMBNAILS_STORAGE_ACCESSKEY": "a2V5",
				"WORKSPACE_IMPORTS_PROVIDER": "azure-blob", "WORKSPACE_IMPORTS_BUCKET": "imp", "WORKSPACE_IMPORTS_PUBLIC": "false",
				"WORKSPACE_IMPORTS_STORAGE_ACCOUNT": "acct", "WORKSPACE_IMPORTS_STORAGE_ACCESSKEY": "a2V5",
			},
		},
		{name: "unknown provider", cfg: Config{Provider: "ftp"}, want: map[string]string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, EnvVars(tt.cfg, tt.path)); diff != "" {
				t.Errorf("EnvVars (-want +got):\n%s", diff)
			}
		})
	}
}
