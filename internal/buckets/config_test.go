package buckets

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/carto-setup/carto-setup/internal/check"
)

func TestValidate(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	saKey := gcsKey(t, key, "https://oauth2.googleapis.com/token")
	noProject := func() []byte {
		var m map[string]string
		_ = json.Unmarshal(saKey, &m)
		delete(m, "project_id")
		b, _ := json.Marshal(m)
		return b
	}()
	userCreds := []byte(`{"type":"authorized_user","client_id":"x","client_secret":"y","refresh_token":"z"}`)
	badPEM := []byte(`{"type":"service_account","client_email":"a@b.iam.gserviceaccount.com","private_key":"-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n","project_id":"my-project"}`)
	httpTokenURI := gcsKey(t, key, "http://evil.example/token")

	gcs := func(mod func(*Config)) Config {
		c := Config{Provider: ProviderGCS, Imports: Bucket{Name: "carto-imports"}, Thumbnails: Bucket{Name: "carto-thumbs"}, GCS: GCS{KeyJSON: saKey}}
		if mod != nil {
			mod(&c)
		}
		return c
	}
	s3 := func(mod func(*Config)) Config {
		c := Config{Provider: ProviderS3, Imports: Bucket{Name: "carto-imports"}, Thumbnails: Bucket{Name: "carto-thumbs"},
			S3: S3{Region: "eu-west-1", AccessKeyID: "AKIAIOSFODNN7EXAMPLE", SecretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}}
		if mod != nil {
			mod(&c)
		}
		return c
	}
	az := func(mod func(*Config)) Config {
		c := Config{Provider: ProviderAzure, Imports: Bucket{Name: "carto-imports"}, Thumbnails: Bucket{Name: "carto-thumbs"},
			Azure: Azure{StorageAccount: "cartostore", AccessKey: "c2VjcmV0LWtleS1ieXRlcw=="}}
		if mod != nil {
			mod(&c)
		}
		return c
	}
	tests := []struct {
		name string
		cfg  Config
		want []string // fields with an error
	}{
		{"gcs ok", gcs(nil), nil},
		{"no provider", Config{}, []string{FieldProvider}},
		{"empty bucket names", gcs(func(c *Config) { c.Imports.Name = ""; c.Thumbnails.Name = " " }), []string{FieldImports, FieldThumbnails}},
		{"gs url instead of name", gcs(func(c *Config) { c.Imports.Name = "gs://carto-imports" }), []string{FieldImports}},
		{"gcs uppercase", gcs(func(c *Config) { c.Imports.Name = "Carto" }), []string{FieldImports}},
		{"gcs google in name", gcs(func(c *Config) { c.Imports.Name = "my-google-bucket" }), []string{FieldImports}},
		{"gcs goog prefix", gcs(func(c *Config) { c.Imports.Name = "goog-bucket" }), []string{FieldImports}},
		{"gcs underscore ok", gcs(func(c *Config) { c.Imports.Name = "carto_imports" }), nil},
		{"gcs dotted long ok", gcs(func(c *Config) { c.Imports.Name = strings.Repeat("a", 60) + "." + strings.Repeat("b", 60) }), nil},
		{"gcs undotted too long", gcs(func(c *Config) { c.Imports.Name = strings.Repeat("a", 64) }), []string{FieldImports}},
		{"gcs ip address", gcs(func(c *Config) { c.Imports.Name = "192.168.5.4" }), []string{FieldImports}},
		{"gcs no key", gcs(func(c *Config) { c.GCS.KeyJSON = nil }), []string{FieldGCSKey}},
		{"gcs not json", gcs(func(c *Config) { c.GCS.KeyJSON = []byte("hello") }), []string{FieldGCSKey}},
		{"gcs user credentials", gcs(func(c *Config) { c.GCS.KeyJSON = userCreds }), []string{FieldGCSKey}},
		{"gcs bad pem", gcs(func(c *Config) { c.GCS.KeyJSON = badPEM }), []string{FieldGCSKey}},
		{"gcs http token uri", gcs(func(c *Config) { c.GCS.KeyJSON = httpTokenURI }), []string{FieldGCSKey}},
		{"gcs no project anywhere", gcs(func(c *Config) { c.GCS.KeyJSON = noProject }), []string{FieldGCSProject}},
		{"gcs project given", gcs(func(c *Config) { c.GCS.KeyJSON = noProject; c.GCS.ProjectID = "other-project" }), nil},
		{"gcs bad project", gcs(func(c *Config) { c.GCS.ProjectID = "My Project" }), []string{FieldGCSProject}},
		{"gcs endpoint with path", gcs(func(c *Config) { c.GCS.Endpoint = "http://127.0.0.1:4443/storage" }), []string{FieldGCSEndpt}},

		{"s3 ok", s3(nil), nil},
		{"s3 underscore", s3(func(c *Config) { c.Thumbnails.Name = "carto_thumbs" }), []string{FieldThumbnails}},
		{"s3 too short", s3(func(c *Config) { c.Thumbnails.Name = "ab" }), []string{FieldThumbnails}},
		{"s3 adjacent dots", s3(func(c *Config) { c.Thumbnails.Name = "a..b" }), []string{FieldThumbnails}},
		{"s3 xn prefix", s3(func(c *Config) { c.Thumbnails.Name = "xn--bucket" }), []string{FieldThumbnails}},
		{"s3 alias suffix", s3(func(c *Config) { c.Thumbnails.Name = "bucket-s3alias" }), []string{FieldThumbnails}},
		{"s3 missing credentials", s3(func(c *Config) { c.S3.AccessKeyID = ""; c.S3.SecretAccessKey = "" }), []string{FieldS3KeyID, FieldS3Secret}},
		{"s3 key id with spaces", s3(func(c *Config) { c.S3.AccessKeyID = "AKIA IOSF" }), []string{FieldS3KeyID}},
		{"s3 temporary key", s3(func(c *Config) { c.S3.AccessKeyID = "ASIAIOSFODNN7EXAMPLE" }), []string{FieldS3KeyID}},
		{"s3 secret with newline", s3(func(c *Config) { c.S3.SecretAccessKey = "abc\n" }), []string{FieldS3Secret}},
		{"s3 no region", s3(func(c *Config) { c.S3.Region = "" }), []string{FieldS3Region}},
		{"s3 bad region", s3(func(c *Config) { c.S3.Region = "Ireland" }), []string{FieldS3Region}},
		{"s3 compatible no region", s3(func(c *Config) { c.S3.Region = ""; c.S3.Endpoint = "https://minio.example.com:9000" }), nil},
		{"s3 endpoint with path", s3(func(c *Config) { c.S3.Endpoint = "https://minio.example.com/bucket" }), []string{FieldS3Endpoint}},
		{"s3 endpoint without scheme", s3(func(c *Config) { c.S3.Endpoint = "minio.example.com" }), []string{FieldS3Endpoint}},
		{"s3 endpoint ftp", s3(func(c *Config) { c.S3.Endpoint = "ftp://minio.example.com" }), []string{FieldS3Endpoint}},

		{"azure ok", az(nil), nil},
		{"azure double hyphen", az(func(c *Config) { c.Imports.Name = "carto--imports" }), []string{FieldImports}},
		{"azure underscore", az(func(c *Config) { c.Imports.Name = "carto_imports" }), []string{FieldImports}},
		{"azure account uppercase", az(func(c *Config) { c.Azure.StorageAccount = "CartoStore" }), []string{FieldAzAccount}},
		{"azure account too long", az(func(c *Config) { c.Azure.StorageAccount = strings.Repeat("a", 25) }), []string{FieldAzAccount}},
		{"azure key missing", az(func(c *Config) { c.Azure.AccessKey = "" }), []string{FieldAzKey}},
		{"azure key not base64", az(func(c *Config) { c.Azure.AccessKey = "not base64!" }), []string{FieldAzKey}},
		{"azure endpoint query", az(func(c *Config) { c.Azure.Endpoint = "http://127.0.0.1:10000?x=1" }), []string{FieldAzEndpoint}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs := Validate(tt.cfg)
			var got []string
			for f := range errs {
				got = append(got, f)
			}
			if diff := cmp.Diff(sortStrings(tt.want), sortStrings(got)); diff != "" {
				t.Errorf("fields (-want +got):\n%s\nmessages: %v", diff, errs)
			}
			for f, msg := range errs {
				for _, secret := range []string{tt.cfg.S3.SecretAccessKey, tt.cfg.Azure.AccessKey} {
					if len(secret) > 4 && strings.Contains(msg, secret) {
						t.Errorf("%s message leaks a secret: %q", f, msg)
					}
				}
			}
		})
	}
}

func sortStrings(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}

// TestRunInvalidConfig checks that Run reports input errors instead of
// calling anything.
func TestRunInvalidConfig(t *testing.T) {
	results := Run(context.Background(), Config{Provider: ProviderS3})
	if len(results) == 0 {
		t.Fatal("no results")
	}
	for _, r := range results {
		if r.ID != "buckets.input" || r.Status != check.Fail || r.Field == "" {
			t.Errorf("unexpected result %+v", r)
		}
	}
}
