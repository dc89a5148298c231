package buckets

import (
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/carto-setup/carto-setup/internal/buckets/azuretest"
	"github.com/carto-setup/carto-setup/internal/check"
)

const azAccountName = "cartotest"

func newAzureKey(t *testing.T) string {
	t.Helper()
	b := make([]byte, 64)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(b)
}

func azureFullCORS() azuretest.CORSRule {
	return azuretest.CORSRule{
		AllowedOrigins:  "*",
		AllowedMethods:  "GET,PUT,POST",
		AllowedHeaders:  "Content-Type,Content-MD5,Content-Disposition,Cache-Control,Access-Control-Request-Headers,X-MS-Blob-Type",
		MaxAgeInSeconds: 3600,
	}
}

// azureSetup starts an account with a private "imports" container and a
// public "thumbnails" container and returns it with a Config that uses it.
func azureSetup(t *testing.T, cors []azuretest.CORSRule) (*azuretest.Server, Config) {
	t.Helper()
	key := newAzureKey(t)
	srv, err := azuretest.New(azAccountName, key, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	srv.CreateContainer("imports", false)
	srv.CreateContainer("thumbnails", true)
	srv.SetCORS(cors)
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	return srv, Config{
		Provider:   ProviderAzure,
		Imports:    Bucket{Name: "imports"},
		Thumbnails: Bucket{Name: "thumbnails", Public: true},
		Azure:      Azure{StorageAccount: azAccountName, AccessKey: key, Endpoint: ts.URL},
	}
}

func TestRunAzure(t *testing.T) {
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
				continue
			}
			out[k] = v
		}
		return out
	}
	gone := want{}
	tests := []struct {
		name   string
		cors   []azuretest.CORSRule
		modify func(*Config, *azuretest.Server)
		now    func() time.Time
		want   map[string]want
	}{
		{name: "success", cors: []azuretest.CORSRule{azureFullCORS()}, want: allPass},
		{
			name:   "wrong key",
			cors:   []azuretest.CORSRule{azureFullCORS()},
			modify: func(c *Config, _ *azuretest.Server) { c.Azure.AccessKey = newAzureKey(t) },
			want:   map[string]want{"buckets.credentials": {check.Fail, "wrong_credentials", FieldAzKey}},
		},
		{
			name: "clock skew",
			cors: []azuretest.CORSRule{azureFullCORS()},
			now:  func() time.Time { return time.Now().Add(-time.Hour) },
			want: map[string]want{"buckets.credentials": {check.Fail, "clock_skew", ""}},
		},
		{
			name:   "container not found",
			cors:   []azuretest.CORSRule{azureFullCORS()},
			modify: func(c *Config, _ *azuretest.Server) { c.Imports.Name = "missing" },
			want: with(map[string]want{
				"buckets.imports.write":  {check.Fail, "bucket_not_found", FieldImports},
				"buckets.imports.read":   gone,
				"buckets.imports.list":   gone,
				"buckets.imports.delete": gone,
			}),
		},
		{
			name:   "public bucket that is private",
			cors:   []azuretest.CORSRule{azureFullCORS()},
			modify: func(c *Config, s *azuretest.Server) { s.CreateContainer("thumbnails", false) },
			want:   with(map[string]want{"buckets.thumbnails.public_read": {check.Fail, "HTTP 404", FieldThumbnails}}),
		},
		{
			name:   "private thumbnails warns",
			cors:   []azuretest.CORSRule{azureFullCORS()},
			modify: func(c *Config, _ *azuretest.Server) { c.Thumbnails.Public = false },
			want:   with(map[string]want{"buckets.thumbnails.public_read": {check.Warn, "private", FieldThumbnails}}),
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
			cors: []azuretest.CORSRule{{AllowedOrigins: "*", AllowedMethods: "GET", AllowedHeaders: "Content-Type", MaxAgeInSeconds: 60}},
			want: with(map[string]want{
				"buckets.imports.cors":    {check.Fail, "", FieldImports},
				"buckets.thumbnails.cors": {check.Fail, "", FieldThumbnails},
			}),
		},
		{
			name: "cors complete with wildcard headers",
			cors: []azuretest.CORSRule{{AllowedOrigins: "https://a.example", AllowedMethods: "GET"}, {AllowedOrigins: "*", AllowedMethods: "GET,PUT,POST,DELETE", AllowedHeaders: "*", MaxAgeInSeconds: 86400}},
			want: allPass,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, cfg := azureSetup(t, tt.cors)
			if tt.modify != nil {
				tt.modify(&cfg, srv)
			}
			results := runWith(t, testRunner(5*time.Second, tt.now), cfg)
			assertResults(t, results, tt.want)
			assertNoSecret(t, results, cfg.Azure.AccessKey)
			for _, c := range []string{"imports", "thumbnails"} {
				if left := srv.Blobs(c); len(left) > 0 {
					t.Errorf("test objects left in %s: %v", c, left)
				}
			}
		})
	}
}

func TestRunAzureCORSMessage(t *testing.T) {
	_, cfg := azureSetup(t, []azuretest.CORSRule{{AllowedOrigins: "*", AllowedMethods: "GET", AllowedHeaders: "Content-Type", MaxAgeInSeconds: 3600}})
	res := byID(t, runWith(t, testRunner(5*time.Second, nil), cfg))["buckets.imports.cors"]
	for _, s := range []string{"methods PUT, POST", "X-MS-Blob-Type", "storage account " + azAccountName} {
		if !strings.Contains(res.Message, s) {
			t.Errorf("message %q lacks %q", res.Message, s)
		}
	}
	if !strings.Contains(res.Hint, "az storage cors add --services b --methods GET PUT POST --origins '*'") ||
		!strings.Contains(res.Hint, "--account-name "+azAccountName) {
		t.Errorf("hint lacks the az command: %q", res.Hint)
	}
}

func TestRunAzureUnreachable(t *testing.T) {
	tests := []struct {
		name     string
		endpoint func(*testing.T) string
		want     want
	}{
		{"stalled", stalledListener, want{check.Error, "timeout", FieldAzEndpoint}},
		{"refused", closedEndpoint, want{check.Fail, "unreachable", FieldAzEndpoint}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Config{
				Provider: ProviderAzure, Imports: Bucket{Name: "imports"}, Thumbnails: Bucket{Name: "thumbnails"},
				Azure: Azure{StorageAccount: azAccountName, AccessKey: newAzureKey(t), Endpoint: tt.endpoint(t)},
			}
			results := runWith(t, testRunner(300*time.Millisecond, nil), cfg)
			assertResults(t, results, map[string]want{"buckets.endpoint": tt.want})
		})
	}
}

// mutating changes a request after it was signed.
type mutating struct {
	next   http.RoundTripper
	mutate func(*http.Request)
}

func (m mutating) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	m.mutate(r)
	return m.next.RoundTrip(r)
}

// TestAzureSignatureCoversRequest proves the test server checks what the
// signature covers: a request changed after signing is refused.
func TestAzureSignatureCoversRequest(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*http.Request)
	}{
		{"x-ms header", func(r *http.Request) { r.Header.Set("x-ms-blob-type", "AppendBlob") }},
		{"content type", func(r *http.Request) { r.Header.Set("Content-Type", "image/png") }},
		{"path", func(r *http.Request) { r.URL.Path = strings.Replace(r.URL.Path, "carto-setup-check", "other", 1) }},
		{"query", func(r *http.Request) { r.URL.RawQuery += "&timeout=30" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, cfg := azureSetup(t, nil)
			r := testRunner(5*time.Second, nil)
			r.client.Transport = mutating{next: r.client.Transport, mutate: tt.mutate}
			store, err := newAzureStore(cfg.Azure, httpDoer{client: r.client, timeout: r.timeout}, time.Now)
			if err != nil {
				t.Fatal(err)
			}
			var callErr error
			if tt.name == "query" {
				_, callErr = store.List(t.Context(), "imports", testPrefix)
			} else {
				callErr = store.Put(t.Context(), "imports", testPrefix+"x.txt", []byte("x"))
			}
			if oe := asOpError("x", callErr); callErr == nil || oe.Kind != kindCredentials {
				t.Errorf("tampered request: got %v, want wrong_credentials", callErr)
			}
		})
	}
}

// TestRunEntryPoint goes through the exported Run with its real defaults.
func TestRunEntryPoint(t *testing.T) {
	_, cfg := azureSetup(t, []azuretest.CORSRule{azureFullCORS()})
	results := Run(t.Context(), cfg)
	if len(results) != 12 || check.Worst(results) != check.Pass {
		t.Errorf("got %d results, worst %s: %+v", len(results), check.Worst(results), results)
	}
}
