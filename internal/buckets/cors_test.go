package buckets

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestCompareCORS(t *testing.T) {
	s3Want := requiredCORS(ProviderS3)
	full := CORSRule{Origins: []string{"*"}, Methods: []string{"GET", "PUT", "POST"},
		Headers: []string{"Content-Type", "Content-MD5", "Content-Disposition", "Cache-Control"}, MaxAge: 3600}
	tests := []struct {
		name  string
		rules []CORSRule
		want  corsGap
	}{
		{"none", nil, corsGap{Origins: []string{"*"}, Methods: []string{"GET", "PUT", "POST"}, Headers: s3Want.Headers, MaxAge: true}},
		{"complete", []CORSRule{full}, corsGap{}},
		{"case-insensitive", []CORSRule{{Origins: []string{"*"}, Methods: []string{"get", "put", "post"}, Headers: []string{"content-type", "CONTENT-MD5", "content-disposition", "cache-control"}, MaxAge: 7200}}, corsGap{}},
		{"wildcard headers", []CORSRule{{Origins: []string{"*"}, Methods: []string{"GET", "PUT", "POST"}, Headers: []string{"*"}, MaxAge: 3600}}, corsGap{}},
		{"one origin only", []CORSRule{{Origins: []string{"https://carto.example.com"}, Methods: full.Methods, Headers: full.Headers, MaxAge: 3600}}, corsGap{Origins: []string{"*"}}},
		{"short max age", []CORSRule{{Origins: []string{"*"}, Methods: full.Methods, Headers: full.Headers, MaxAge: 600}}, corsGap{MaxAge: true}},
		{"split across rules is not enough", []CORSRule{
			{Origins: []string{"*"}, Methods: []string{"GET"}, Headers: full.Headers, MaxAge: 3600},
			{Origins: []string{"*"}, Methods: []string{"PUT", "POST"}, Headers: []string{"Content-Type"}, MaxAge: 3600},
		}, corsGap{Methods: []string{"GET"}, Headers: []string{"Content-MD5", "Content-Disposition", "Cache-Control"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, compareCORS(tt.rules, s3Want)); diff != "" {
				t.Errorf("gap (-want +got):\n%s", diff)
			}
		})
	}
}

// TestCORSFix checks that each fix names the target and that its file
// parses and meets the requirement when read back.
func TestCORSFix(t *testing.T) {
	gcs := CORSFix(ProviderGCS, "my-thumbs")
	if !strings.Contains(gcs, "gsutil cors set cors.json gs://my-thumbs") {
		t.Errorf("gcs fix lacks the command:\n%s", gcs)
	}
	var gcsDoc []struct {
		Origin         []string `json:"origin"`
		Method         []string `json:"method"`
		ResponseHeader []string `json:"responseHeader"`
		MaxAgeSeconds  int      `json:"maxAgeSeconds"`
	}
	if err := json.Unmarshal([]byte(between(gcs, "Save as cors.json:\n", "\n\nThen run")), &gcsDoc); err != nil || len(gcsDoc) != 1 {
		t.Fatalf("gcs cors.json does not parse: %v\n%s", err, gcs)
	}
	r := gcsDoc[0]
	if g := compareCORS([]CORSRule{{r.Origin, r.Method, r.ResponseHeader, r.MaxAgeSeconds}}, requiredCORS(ProviderGCS)); !g.empty() {
		t.Errorf("gcs fix does not meet the requirement: %s", g)
	}

	s3 := CORSFix(ProviderS3, "my-imports")
	if !strings.Contains(s3, "aws s3api put-bucket-cors --bucket my-imports --cors-configuration file://cors.json") {
		t.Errorf("s3 fix lacks the command:\n%s", s3)
	}
	var s3Doc struct {
		CORSRules []struct {
			AllowedOrigins, AllowedMethods, AllowedHeaders []string
			MaxAgeSeconds                                  int
		}
	}
	if err := json.Unmarshal([]byte(between(s3, "Save as cors.json:\n", "\n\nThen run")), &s3Doc); err != nil || len(s3Doc.CORSRules) != 1 {
		t.Fatalf("s3 cors.json does not parse: %v\n%s", err, s3)
	}
	sr := s3Doc.CORSRules[0]
	if g := compareCORS([]CORSRule{{sr.AllowedOrigins, sr.AllowedMethods, sr.AllowedHeaders, sr.MaxAgeSeconds}}, requiredCORS(ProviderS3)); !g.empty() {
		t.Errorf("s3 fix does not meet the requirement: %s", g)
	}

	az := CORSFix(ProviderAzure, "acct")
	for _, s := range []string{"az storage cors add --services b --methods GET PUT POST --origins '*'", "X-MS-Blob-Type", "Access-Control-Request-Headers", "--max-age 3600", "--account-name acct"} {
		if !strings.Contains(az, s) {
			t.Errorf("azure fix lacks %q:\n%s", s, az)
		}
	}
	if CORSFix("ftp", "x") != "" {
		t.Error("unknown provider should have no fix")
	}
}

func between(s, start, end string) string {
	_, after, _ := strings.Cut(s, start)
	before, _, _ := strings.Cut(after, end)
	return before
}
