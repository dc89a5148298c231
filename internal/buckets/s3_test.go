package buckets

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/carto-setup/carto-setup/internal/buckets/s3test"
	"github.com/carto-setup/carto-setup/internal/check"
)

// s3FullCORS is the rule CARTO needs, as an admin would set it.
var s3FullCORS = s3test.CORSConfiguration{Rules: []s3test.CORSRule{{
	AllowedOrigins: []string{"*"},
	AllowedMethods: []string{"GET", "PUT", "POST"},
	AllowedHeaders: []string{"Content-Type", "Content-MD5", "Content-Disposition", "Cache-Control"},
	MaxAgeSeconds:  3600,
}}}

// s3PartialCORS allows reads only, with a short max age.
var s3PartialCORS = s3test.CORSConfiguration{Rules: []s3test.CORSRule{{
	AllowedOrigins: []string{"*"},
	AllowedMethods: []string{"GET"},
	AllowedHeaders: []string{"Content-Type"},
	MaxAgeSeconds:  3000,
}}}

// startS3 runs the SigV4-verifying S3 test server with the given buckets
// (private, without CORS) and returns it with its endpoint.
func startS3(t *testing.T, buckets ...string) (*s3test.Server, string) {
	t.Helper()
	srv := s3test.Start(t, s3test.Options{Buckets: buckets})
	return srv, srv.URL
}

func TestRunS3(t *testing.T) {
	allPass := map[string]want{
		"buckets.credentials":            {check.Pass, "", "-"},
		"buckets.imports.write":          {check.Pass, "", FieldImports},
		"buckets.imports.read":           {check.Pass, "", FieldImports},
		"buckets.imports.list":           {check.Pass, "", FieldImports},
		"buckets.imports.delete":         {check.Pass, "", FieldImports},
		"buckets.imports.cors":           {check.Pass, "", FieldImports},
		"buckets.thumbnails.write":       {check.Pass, "", FieldThumbnails},
		"buckets.thumbnails.read":        {check.Pass, "", FieldThumbnails},
		"buckets.thumbnails.list":        {check.Pass, "", FieldThumbnails},
		"buckets.thumbnails.public_read": {check.Pass, "", FieldThumbnails},
		"buckets.thumbnails.delete":      {check.Pass, "", FieldThumbnails},
		"buckets.thumbnails.cors":        {check.Pass, "", FieldThumbnails},
	}
	with := func(changes map[string]want) map[string]want {
		out := map[string]want{}
		for k, v := range allPass {
			out[k] = v
		}
		for k, v := range changes {
			if v.status == "" {
				delete(out, k)
			} else {
				out[k] = v
			}
		}
		return out
	}
	tests := []struct {
		name   string
		cors   *s3test.CORSConfiguration // nil for none
		modify func(*Config, *s3test.Server)
		now    func() time.Time
		want   map[string]want
	}{
		{name: "success", cors: &s3FullCORS, want: allPass},
		{
			name:   "wrong access key id",
			cors:   &s3FullCORS,
			modify: func(c *Config, _ *s3test.Server) { c.S3.AccessKeyID = "AKIAWRONGKEY00000000" },
			want:   map[string]want{"buckets.credentials": {check.Fail, "wrong_credentials", FieldS3KeyID}},
		},
		{
			name:   "wrong secret",
			cors:   &s3FullCORS,
			modify: func(c *Config, _ *s3test.Server) { c.S3.SecretAccessKey = "not-the-secret" },
			want:   map[string]want{"buckets.credentials": {check.Fail, "wrong_credentials", FieldS3Secret}},
		},
		{
			name: "clock skew",
			cors: &s3FullCORS,
			now:  func() time.Time { return time.Now().Add(30 * time.Minute) },
			want: map[string]want{"buckets.credentials": {check.Fail, "clock_skew", ""}},
		},
		{
			name:   "wrong region",
			cors:   &s3FullCORS,
			modify: func(c *Config, _ *s3test.Server) { c.S3.Region = "us-east-2" },
			want: with(map[string]want{
				"buckets.credentials":      {},
				"buckets.imports.write":    {check.Fail, "wrong_region", FieldS3Region},
				"buckets.imports.read":     {},
				"buckets.imports.list":     {},
				"buckets.imports.delete":   {},
				"buckets.imports.cors":     {check.Fail, "wrong_region", FieldS3Region},
				"buckets.thumbnails.write": {check.Fail, "wrong_region", FieldS3Region},
				"buckets.thumbnails.read":  {}, "buckets.thumbnails.list": {}, "buckets.thumbnails.delete": {},
				"buckets.thumbnails.public_read": {},
				"buckets.thumbnails.cors":        {check.Fail, "wrong_region", FieldS3Region},
			}),
		},
		{
			name:   "bucket not found",
			cors:   &s3FullCORS,
			modify: func(c *Config, _ *s3test.Server) { c.Thumbnails.Name = "no-such-bucket" },
			want: with(map[string]want{
				"buckets.thumbnails.write":       {check.Fail, "bucket_not_found", FieldThumbnails},
				"buckets.thumbnails.read":        {},
				"buckets.thumbnails.list":        {},
				"buckets.thumbnails.public_read": {},
				"buckets.thumbnails.delete":      {},
				"buckets.thumbnails.cors":        {check.Fail, "bucket_not_found", FieldThumbnails},
			}),
		},
		{
			name:   "public bucket blocks anonymous reads",
			cors:   &s3FullCORS,
			modify: func(_ *Config, f *s3test.Server) { f.SetPublic("carto-thumbnails", false) },
			want:   with(map[string]want{"buckets.thumbnails.public_read": {check.Fail, "HTTP 403", FieldThumbnails}}),
		},
		{
			name: "cors missing",
			want: with(map[string]want{
				"buckets.imports.cors":    {check.Fail, "no CORS rules", FieldImports},
				"buckets.thumbnails.cors": {check.Fail, "no CORS rules", FieldThumbnails},
			}),
		},
		{
			name: "cors partial",
			cors: &s3PartialCORS,
			want: with(map[string]want{
				"buckets.imports.cors":    {check.Fail, "", FieldImports},
				"buckets.thumbnails.cors": {check.Fail, "", FieldThumbnails},
			}),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, endpoint := startS3(t, "carto-imports", "carto-thumbnails")
			f.SetPublic("carto-thumbnails", true)
			if tt.cors != nil {
				f.SetCORS("carto-imports", *tt.cors)
				f.SetCORS("carto-thumbnails", *tt.cors)
			}
			cfg := Config{
				Provider:   ProviderS3,
				Imports:    Bucket{Name: "carto-imports"},
				Thumbnails: Bucket{Name: "carto-thumbnails", Public: true},
				S3: S3{Region: f.Credentials.Region, AccessKeyID: f.Credentials.AccessKeyID, SecretAccessKey: f.Credentials.SecretAccessKey,
					Endpoint: endpoint, ForcePathStyle: true},
			}
			if tt.modify != nil {
				tt.modify(&cfg, f)
			}
			results := runWith(t, testRunner(5*time.Second, tt.now), cfg)
			assertResults(t, results, tt.want)
			assertNoSecret(t, results, f.Credentials.SecretAccessKey, cfg.S3.SecretAccessKey)
			for _, b := range []string{"carto-imports", "carto-thumbnails"} {
				keys, err := f.Objects(b)
				if err != nil {
					t.Fatal(err)
				}
				if len(keys) > 0 {
					t.Errorf("test object left in %s: %s", b, keys[0])
				}
			}
		})
	}
}

func TestRunS3CORSMessage(t *testing.T) {
	f, endpoint := startS3(t, "carto-imports", "carto-thumbnails")
	f.SetCORS("carto-imports", s3PartialCORS)
	cfg := Config{
		Provider: ProviderS3, Imports: Bucket{Name: "carto-imports"}, Thumbnails: Bucket{Name: "carto-thumbnails"},
		S3: S3{Region: f.Credentials.Region, AccessKeyID: f.Credentials.AccessKeyID, SecretAccessKey: f.Credentials.SecretAccessKey, Endpoint: endpoint},
	}
	res := byID(t, runWith(t, testRunner(5*time.Second, nil), cfg))["buckets.imports.cors"]
	for _, s := range []string{"methods PUT, POST", "Content-MD5", "max age 3600"} {
		if !strings.Contains(res.Message, s) {
			t.Errorf("message %q lacks %q", res.Message, s)
		}
	}
	if !strings.Contains(res.Hint, "aws s3api put-bucket-cors --bucket carto-imports --cors-configuration file://cors.json") {
		t.Errorf("hint lacks the aws command: %q", res.Hint)
	}
}

func TestRunS3Unreachable(t *testing.T) {
	tests := []struct {
		name     string
		endpoint func(*testing.T) string
		want     want
	}{
		{"stalled", stalledListener, want{check.Error, "timeout", FieldS3Endpoint}},
		{"refused", closedEndpoint, want{check.Fail, "unreachable", FieldS3Endpoint}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Config{
				Provider: ProviderS3, Imports: Bucket{Name: "carto-imports"}, Thumbnails: Bucket{Name: "carto-thumbnails"},
				S3: S3{AccessKeyID: "AKIATESTKEY000000001", SecretAccessKey: "s", Endpoint: tt.endpoint(t)},
			}
			results := runWith(t, testRunner(300*time.Millisecond, nil), cfg)
			assertResults(t, results, map[string]want{"buckets.endpoint": tt.want})
		})
	}
}

// TestRunS3CORSFixApplies saves the cors.json of CORSFix and sends it with
// PutBucketCors, as the admin would with the aws command it prints: the
// CORS checks then pass.
func TestRunS3CORSFixApplies(t *testing.T) {
	f, endpoint := startS3(t, "carto-imports", "carto-thumbnails")
	cfg := Config{
		Provider: ProviderS3, Imports: Bucket{Name: "carto-imports"}, Thumbnails: Bucket{Name: "carto-thumbnails"},
		S3: S3{Region: f.Credentials.Region, AccessKeyID: f.Credentials.AccessKeyID, SecretAccessKey: f.Credentials.SecretAccessKey, Endpoint: endpoint},
	}
	for _, b := range []string{"carto-imports", "carto-thumbnails"} {
		_, rest, _ := strings.Cut(CORSFix(ProviderS3, b), "Save as cors.json:")
		doc, _, _ := strings.Cut(rest, "Then run")
		var rules s3test.CORSConfiguration
		if err := json.Unmarshal([]byte(doc), &rules); err != nil {
			t.Fatalf("the fix's cors.json: %v", err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := f.Client().PutBucketCORS(ctx, b, rules)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
	}
	got := byID(t, runWith(t, testRunner(5*time.Second, nil), cfg))
	for _, id := range []string{"buckets.imports.cors", "buckets.thumbnails.cors"} {
		if got[id].Status != check.Pass {
			t.Errorf("%s after the fix: %s (%s)", id, got[id].Status, got[id].Message)
		}
	}
}
