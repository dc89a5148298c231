package buckets

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fsouza/fake-gcs-server/fakestorage"

	"github.com/carto-setup/carto-setup/internal/check"
)

// gcsFake is fake-gcs-server (objects, listing, missing buckets) behind a
// front adding what it does not do:
//   - a token endpoint that verifies the service-account JWT's RS256
//     signature and its iat, answering like Google's (invalid_grant);
//   - bearer-token checks on every API call (fake-gcs-server ignores auth);
//   - bucket CORS: fake-gcs-server neither stores nor returns "cors", so the
//     front adds cors[bucket] to GET /storage/v1/b/{bucket}. The parsing and
//     comparison are covered; GCS's own storage of CORS is not;
//   - anonymous reads on the XML host path, allowed only for public buckets
//     (fake-gcs-server has no IAM), and 403s for denied[bucket] methods.
type gcsFake struct {
	pub   *rsa.PublicKey
	inner http.Handler
	now   func() time.Time

	mu     sync.Mutex
	tokens map[string]bool
	cors   map[string][]map[string]any
	public map[string]bool
	denied map[string]string // bucket -> HTTP method refused with 403
}

func (f *gcsFake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.URL.Path == "/token" {
		f.token(w, r)
		return
	}
	apiPath := strings.HasPrefix(r.URL.Path, "/storage/") || strings.HasPrefix(r.URL.Path, "/upload/")
	auth := r.Header.Get("Authorization")
	if auth == "" && !apiPath && r.Method == http.MethodGet {
		bucket, object, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
		if !f.public[bucket] {
			w.WriteHeader(http.StatusForbidden)
			io.WriteString(w, "<Error><Code>AccessDenied</Code></Error>")
			return
		}
		r2 := r.Clone(r.Context())
		r2.URL.Path = "/storage/v1/b/" + bucket + "/o/" + object
		r2.URL.RawPath = "/storage/v1/b/" + bucket + "/o/" + url.PathEscape(object)
		r2.URL.RawQuery = "alt=media"
		f.inner.ServeHTTP(w, r2)
		return
	}
	if !f.tokens[strings.TrimPrefix(auth, "Bearer ")] {
		gcsJSONError(w, http.StatusUnauthorized, "Invalid Credentials", "authError")
		return
	}
	parts := strings.Split(strings.TrimPrefix(strings.TrimPrefix(r.URL.Path, "/upload"), "/storage/v1/b/"), "/")
	if m, ok := f.denied[parts[0]]; ok && m == r.Method {
		gcsJSONError(w, http.StatusForbidden, "sa@test.iam.gserviceaccount.com does not have storage.objects access", "forbidden")
		return
	}
	if r.Method == http.MethodGet && len(parts) == 1 && strings.HasPrefix(r.URL.Path, "/storage/v1/b/") {
		rec := httptest.NewRecorder()
		f.inner.ServeHTTP(rec, r)
		if rec.Code != http.StatusOK {
			w.WriteHeader(rec.Code)
			w.Write(rec.Body.Bytes())
			return
		}
		var bucket map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &bucket); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		if c, ok := f.cors[parts[0]]; ok {
			bucket["cors"] = c
		}
		json.NewEncoder(w).Encode(bucket)
		return
	}
	f.inner.ServeHTTP(w, r)
}

func gcsJSONError(w http.ResponseWriter, status int, msg, reason string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"error":{"code":%d,"message":%q,"errors":[{"reason":%q}]}}`, status, msg, reason)
}

// token implements the JWT-bearer grant as Google's token endpoint does.
func (f *gcsFake) token(w http.ResponseWriter, r *http.Request) {
	grantErr := func(desc string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `{"error":"invalid_grant","error_description":%q}`, desc)
	}
	if err := r.ParseForm(); err != nil || r.PostForm.Get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
		grantErr("bad request")
		return
	}
	parts := strings.Split(r.PostForm.Get("assertion"), ".")
	if len(parts) != 3 {
		grantErr("Invalid JWT.")
		return
	}
	sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if rsa.VerifyPKCS1v15(f.pub, crypto.SHA256, sum[:], sig) != nil {
		grantErr("Invalid JWT Signature.")
		return
	}
	raw, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var claims struct {
		Iat, Exp int64
		Scope    string
	}
	_ = json.Unmarshal(raw, &claims)
	if d := f.now().Unix() - claims.Iat; d > 300 || d < -300 || claims.Exp-claims.Iat > 3600 {
		grantErr("Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.")
		return
	}
	tok := "ya29.test-" + randomHex(8)
	f.tokens[tok] = true
	fmt.Fprintf(w, `{"access_token":%q,"expires_in":3599,"token_type":"Bearer"}`, tok)
}

// gcsKey returns a service-account key file whose token_uri is tokenURI.
func gcsKey(t *testing.T, key *rsa.PrivateKey, tokenURI string) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(map[string]string{
		"type":           "service_account",
		"project_id":     "carto-test-project",
		"private_key_id": "abc123",
		"private_key":    string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email":   "carto@carto-test-project.iam.gserviceaccount.com",
		"token_uri":      tokenURI,
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func newGCSFake(t *testing.T, pub *rsa.PublicKey, buckets ...string) (*gcsFake, string) {
	t.Helper()
	inner, err := fakestorage.NewServerWithOptions(fakestorage.Options{NoListener: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range buckets {
		inner.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: b})
	}
	f := &gcsFake{pub: pub, inner: inner.HTTPHandler(), now: time.Now,
		tokens: map[string]bool{}, cors: map[string][]map[string]any{}, public: map[string]bool{}, denied: map[string]string{}}
	ts := httptest.NewServer(f)
	t.Cleanup(ts.Close)
	return f, ts.URL
}

func gcsCORS(methods, headers []string, maxAge int) []map[string]any {
	return []map[string]any{{"origin": []string{"*"}, "method": methods, "responseHeader": headers, "maxAgeSeconds": maxAge}}
}

func TestRunGCS(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	otherKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	full := gcsCORS([]string{"GET", "PUT", "POST"}, []string{"Content-Type", "Content-MD5", "Content-Disposition", "Cache-Control", "x-goog-content-length-range", "x-goog-meta-filename"}, 3600)
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
		name    string
		cors    []map[string]any
		signer  *rsa.PrivateKey
		modify  func(*Config, *gcsFake)
		now     func() time.Time
		wantRes map[string]want
	}{
		{name: "success", cors: full, wantRes: allPass},
		{
			name:    "key signed by another key",
			cors:    full,
			signer:  otherKey,
			wantRes: map[string]want{"buckets.credentials": {check.Fail, "wrong_credentials", FieldGCSKey}},
		},
		{
			name:    "clock skew",
			cors:    full,
			now:     func() time.Time { return time.Now().Add(-2 * time.Hour) },
			wantRes: map[string]want{"buckets.credentials": {check.Fail, "clock_skew", ""}},
		},
		{
			name:   "bucket not found",
			cors:   full,
			modify: func(c *Config, _ *gcsFake) { c.Imports.Name = "no-such-bucket" },
			wantRes: with(map[string]want{
				"buckets.imports.write":  {check.Fail, "bucket_not_found", FieldImports},
				"buckets.imports.read":   {},
				"buckets.imports.list":   {},
				"buckets.imports.delete": {},
				"buckets.imports.cors":   {check.Fail, "bucket_not_found", FieldImports},
			}),
		},
		{
			name:   "write denied",
			cors:   full,
			modify: func(_ *Config, f *gcsFake) { f.denied["carto-imports"] = http.MethodPost },
			wantRes: with(map[string]want{
				"buckets.imports.write":  {check.Fail, "access_denied", FieldImports},
				"buckets.imports.read":   {},
				"buckets.imports.list":   {},
				"buckets.imports.delete": {},
			}),
		},
		{
			name:    "public bucket that is private",
			cors:    full,
			modify:  func(_ *Config, f *gcsFake) { delete(f.public, "carto-thumbnails") },
			wantRes: with(map[string]want{"buckets.thumbnails.public_read": {check.Fail, "HTTP 403", FieldThumbnails}}),
		},
		{
			name: "cors missing",
			wantRes: with(map[string]want{
				"buckets.imports.cors":    {check.Fail, "no CORS rules", FieldImports},
				"buckets.thumbnails.cors": {check.Fail, "no CORS rules", FieldThumbnails},
			}),
		},
		{
			name: "cors partial lacks the goog headers",
			cors: gcsCORS([]string{"GET", "PUT", "POST"}, []string{"Content-Type", "Content-MD5", "Content-Disposition", "Cache-Control"}, 3600),
			wantRes: with(map[string]want{
				"buckets.imports.cors":    {check.Fail, "", FieldImports},
				"buckets.thumbnails.cors": {check.Fail, "", FieldThumbnails},
			}),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, endpoint := newGCSFake(t, &key.PublicKey, "carto-imports", "carto-thumbnails")
			f.public["carto-thumbnails"] = true
			if tt.cors != nil {
				f.cors["carto-imports"] = tt.cors
				f.cors["carto-thumbnails"] = tt.cors
			}
			signer := key
			if tt.signer != nil {
				signer = tt.signer
			}
			cfg := Config{
				Provider:   ProviderGCS,
				Imports:    Bucket{Name: "carto-imports"},
				Thumbnails: Bucket{Name: "carto-thumbnails", Public: true},
				GCS:        GCS{KeyJSON: gcsKey(t, signer, endpoint+"/token"), Endpoint: endpoint},
			}
			if tt.modify != nil {
				tt.modify(&cfg, f)
			}
			results := runWith(t, testRunner(5*time.Second, tt.now), cfg)
			assertResults(t, results, tt.wantRes)
			var sa serviceAccount
			_ = json.Unmarshal(cfg.GCS.KeyJSON, &sa)
			assertNoSecret(t, results, sa.PrivateKey, "BEGIN PRIVATE KEY")
			for tok := range f.tokens {
				assertNoSecret(t, results, tok)
			}
		})
	}
}

func TestRunGCSCORSMessage(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	f, endpoint := newGCSFake(t, &key.PublicKey, "carto-imports", "carto-thumbnails")
	f.cors["carto-imports"] = gcsCORS([]string{"GET", "PUT", "POST"}, []string{"Content-Type", "Content-MD5", "Content-Disposition", "Cache-Control"}, 3600)
	cfg := Config{
		Provider: ProviderGCS, Imports: Bucket{Name: "carto-imports"}, Thumbnails: Bucket{Name: "carto-thumbnails"},
		GCS: GCS{KeyJSON: gcsKey(t, key, endpoint+"/token"), Endpoint: endpoint},
	}
	res := byID(t, runWith(t, testRunner(5*time.Second, nil), cfg))["buckets.imports.cors"]
	if !strings.Contains(res.Message, "headers x-goog-content-length-range, x-goog-meta-filename") || strings.Contains(res.Message, "methods") {
		t.Errorf("message should name exactly the two goog headers: %q", res.Message)
	}
	if !strings.Contains(res.Hint, "gsutil cors set cors.json gs://carto-imports") {
		t.Errorf("hint lacks the gsutil command: %q", res.Hint)
	}
}

func TestRunGCSUnreachable(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		endpoint func(*testing.T) string
		want     want
	}{
		{"stalled", stalledListener, want{check.Error, "timeout", FieldGCSEndpt}},
		{"refused", closedEndpoint, want{check.Fail, "unreachable", FieldGCSEndpt}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ep := tt.endpoint(t)
			cfg := Config{
				Provider: ProviderGCS, Imports: Bucket{Name: "carto-imports"}, Thumbnails: Bucket{Name: "carto-thumbnails"},
				GCS: GCS{KeyJSON: gcsKey(t, key, ep+"/token"), Endpoint: ep},
			}
			results := runWith(t, testRunner(300*time.Millisecond, nil), cfg)
			assertResults(t, results, map[string]want{"buckets.endpoint": tt.want})
		})
	}
}
