package buckets

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/carto-setup/carto-setup/internal/check"
)

// s3Fake is gofakes3 (objects, listing, NoSuchBucket) behind a front that
// gofakes3 v1.2.0 lacks:
//   - SigV4 verification, written here from AWS's "Signature Version 4
//     signing process" independently of the aws-sdk-go-v2 signer the client
//     uses, with InvalidAccessKeyId, SignatureDoesNotMatch,
//     RequestTimeTooSkewed and AuthorizationHeaderMalformed (wrong region);
//   - GET ?cors: gofakes3 cannot store bucket CORS, so the front answers it
//     from corsXML (or NoSuchCORSConfiguration). The parsing and comparison
//     are covered; S3's own storage of CORS is not;
//   - anonymous reads: gofakes3 has no ACLs or policies, so the front
//     allows them only for buckets listed in public.
type s3Fake struct {
	keyID, secret, region string
	now                   func() time.Time
	inner                 http.Handler
	backend               *s3mem.Backend

	mu      sync.Mutex
	corsXML map[string]string
	public  map[string]bool
}

func newS3Fake(t *testing.T, buckets ...string) (*s3Fake, string) {
	t.Helper()
	be := s3mem.New()
	for _, b := range buckets {
		if err := be.CreateBucket(b); err != nil {
			t.Fatal(err)
		}
	}
	f := &s3Fake{
		keyID: "AKIATESTKEY000000001", secret: "test-secret/abc+123", region: "eu-west-1",
		now: time.Now, inner: gofakes3.New(be).Server(), backend: be,
		corsXML: map[string]string{}, public: map[string]bool{},
	}
	ts := httptest.NewServer(f)
	t.Cleanup(ts.Close)
	return f, ts.URL
}

func s3Error(w http.ResponseWriter, status int, code, extra string) {
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	fmt.Fprintf(w, "<Error><Code>%s</Code><Message>%s</Message>%s</Error>", code, code, extra)
}

func (f *s3Fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	bucket, key, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")

	if r.Header.Get("Authorization") == "" {
		f.mu.Lock()
		public := f.public[bucket]
		f.mu.Unlock()
		if r.Method == http.MethodGet && key != "" && public {
			f.inner.ServeHTTP(w, r)
			return
		}
		s3Error(w, http.StatusForbidden, "AccessDenied", "")
		return
	}
	if status, code, extra := f.verify(r, body); code != "" {
		s3Error(w, status, code, extra)
		return
	}
	if _, ok := r.URL.Query()["cors"]; ok && key == "" && r.Method == http.MethodGet {
		if ok, _ := f.backend.BucketExists(bucket); !ok {
			s3Error(w, http.StatusNotFound, "NoSuchBucket", "")
			return
		}
		f.mu.Lock()
		doc, ok := f.corsXML[bucket]
		f.mu.Unlock()
		if !ok {
			s3Error(w, http.StatusNotFound, "NoSuchCORSConfiguration", "")
			return
		}
		io.WriteString(w, doc)
		return
	}
	f.inner.ServeHTTP(w, r)
}

// verify checks a header-signed SigV4 request.
func (f *s3Fake) verify(r *http.Request, body []byte) (int, string, string) {
	auth := r.Header.Get("Authorization")
	const algo = "AWS4-HMAC-SHA256 "
	if !strings.HasPrefix(auth, algo) {
		return http.StatusBadRequest, "InvalidArgument", ""
	}
	fields := map[string]string{}
	for _, part := range strings.Split(strings.TrimPrefix(auth, algo), ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		fields[k] = v
	}
	scope := strings.Split(fields["Credential"], "/") // key/date/region/service/aws4_request
	if len(scope) != 5 || scope[3] != "s3" || scope[4] != "aws4_request" {
		return http.StatusBadRequest, "AuthorizationHeaderMalformed", ""
	}
	if scope[0] != f.keyID {
		return http.StatusForbidden, "InvalidAccessKeyId", ""
	}
	if scope[2] != f.region {
		return http.StatusBadRequest, "AuthorizationHeaderMalformed", "<Region>" + f.region + "</Region>"
	}
	amzDate := r.Header.Get("X-Amz-Date")
	t, err := time.Parse("20060102T150405Z", amzDate)
	if err != nil || scope[1] != amzDate[:8] {
		return http.StatusForbidden, "AccessDenied", ""
	}
	if d := f.now().Sub(t); d > 15*time.Minute || d < -15*time.Minute {
		return http.StatusForbidden, "RequestTimeTooSkewed", ""
	}
	sum := sha256.Sum256(body)
	payload := r.Header.Get("X-Amz-Content-Sha256")
	if payload != hex.EncodeToString(sum[:]) {
		return http.StatusBadRequest, "XAmzContentSHA256Mismatch", ""
	}

	signed := strings.Split(fields["SignedHeaders"], ";")
	var canonHeaders strings.Builder
	for _, h := range signed {
		v := r.Header.Get(h)
		if h == "host" {
			v = r.Host
		}
		canonHeaders.WriteString(h + ":" + strings.Join(strings.Fields(v), " ") + "\n")
	}
	canonical := strings.Join([]string{
		r.Method,
		awsEscape(r.URL.Path, false),
		canonicalQuery(r.URL.RawQuery),
		canonHeaders.String(),
		fields["SignedHeaders"],
		payload,
	}, "\n")
	crSum := sha256.Sum256([]byte(canonical))
	toSign := "AWS4-HMAC-SHA256\n" + amzDate + "\n" + strings.Join(scope[1:], "/") + "\n" + hex.EncodeToString(crSum[:])
	k := []byte("AWS4" + f.secret)
	for _, s := range []string{scope[1], scope[2], scope[3], scope[4]} {
		k = hmacSHA256(k, s)
	}
	if hex.EncodeToString(hmacSHA256(k, toSign)) != fields["Signature"] {
		return http.StatusForbidden, "SignatureDoesNotMatch", ""
	}
	return 0, "", ""
}

func hmacSHA256(key []byte, s string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(s))
	return m.Sum(nil)
}

// awsEscape percent-encodes everything but the unreserved characters (and
// "/" in paths), with upper-case hex, as SigV4 requires.
func awsEscape(s string, encodeSlash bool) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '_', c == '.', c == '~':
			b.WriteByte(c)
		case c == '/' && !encodeSlash:
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

func canonicalQuery(raw string) string {
	q, _ := url.ParseQuery(raw)
	var pairs []string
	for k, vs := range q {
		for _, v := range vs {
			pairs = append(pairs, awsEscape(k, true)+"="+awsEscape(v, true))
		}
	}
	sort.Strings(pairs)
	return strings.Join(pairs, "&")
}

const s3FullCORS = `<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod><AllowedMethod>PUT</AllowedMethod><AllowedMethod>POST</AllowedMethod><AllowedHeader>Content-Type</AllowedHeader><AllowedHeader>Content-MD5</AllowedHeader><AllowedHeader>Content-Disposition</AllowedHeader><AllowedHeader>Cache-Control</AllowedHeader><MaxAgeSeconds>3600</MaxAgeSeconds></CORSRule></CORSConfiguration>`

const s3PartialCORS = `<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod><AllowedHeader>Content-Type</AllowedHeader><MaxAgeSeconds>3000</MaxAgeSeconds></CORSRule></CORSConfiguration>`

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
		cors   string // "" for none
		modify func(*Config, *s3Fake)
		now    func() time.Time
		want   map[string]want
	}{
		{name: "success", cors: s3FullCORS, want: allPass},
		{
			name:   "wrong access key id",
			cors:   s3FullCORS,
			modify: func(c *Config, _ *s3Fake) { c.S3.AccessKeyID = "AKIAWRONGKEY00000000" },
			want:   map[string]want{"buckets.credentials": {check.Fail, "wrong_credentials", FieldS3KeyID}},
		},
		{
			name:   "wrong secret",
			cors:   s3FullCORS,
			modify: func(c *Config, _ *s3Fake) { c.S3.SecretAccessKey = "not-the-secret" },
			want:   map[string]want{"buckets.credentials": {check.Fail, "wrong_credentials", FieldS3Secret}},
		},
		{
			name: "clock skew",
			cors: s3FullCORS,
			now:  func() time.Time { return time.Now().Add(30 * time.Minute) },
			want: map[string]want{"buckets.credentials": {check.Fail, "clock_skew", ""}},
		},
		{
			name:   "wrong region",
			cors:   s3FullCORS,
			modify: func(c *Config, _ *s3Fake) { c.S3.Region = "us-east-2" },
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
			cors:   s3FullCORS,
			modify: func(c *Config, _ *s3Fake) { c.Thumbnails.Name = "no-such-bucket" },
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
			cors:   s3FullCORS,
			modify: func(_ *Config, f *s3Fake) { delete(f.public, "carto-thumbnails") },
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
			cors: s3PartialCORS,
			want: with(map[string]want{
				"buckets.imports.cors":    {check.Fail, "", FieldImports},
				"buckets.thumbnails.cors": {check.Fail, "", FieldThumbnails},
			}),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, endpoint := newS3Fake(t, "carto-imports", "carto-thumbnails")
			f.public["carto-thumbnails"] = true
			if tt.cors != "" {
				f.corsXML["carto-imports"] = tt.cors
				f.corsXML["carto-thumbnails"] = tt.cors
			}
			cfg := Config{
				Provider:   ProviderS3,
				Imports:    Bucket{Name: "carto-imports"},
				Thumbnails: Bucket{Name: "carto-thumbnails", Public: true},
				S3:         S3{Region: f.region, AccessKeyID: f.keyID, SecretAccessKey: f.secret, Endpoint: endpoint, ForcePathStyle: true},
			}
			if tt.modify != nil {
				tt.modify(&cfg, f)
			}
			results := runWith(t, testRunner(5*time.Second, tt.now), cfg)
			assertResults(t, results, tt.want)
			assertNoSecret(t, results, f.secret, cfg.S3.SecretAccessKey)
			for _, b := range []string{"carto-imports", "carto-thumbnails"} {
				list, err := f.backend.ListBucket(b, nil, gofakes3.ListBucketPage{})
				if err != nil {
					t.Fatal(err)
				}
				if len(list.Contents) > 0 {
					t.Errorf("test object left in %s: %s", b, list.Contents[0].Key)
				}
			}
		})
	}
}

func TestRunS3CORSMessage(t *testing.T) {
	f, endpoint := newS3Fake(t, "carto-imports", "carto-thumbnails")
	f.corsXML["carto-imports"] = s3PartialCORS
	cfg := Config{
		Provider: ProviderS3, Imports: Bucket{Name: "carto-imports"}, Thumbnails: Bucket{Name: "carto-thumbnails"},
		S3: S3{Region: f.region, AccessKeyID: f.keyID, SecretAccessKey: f.secret, Endpoint: endpoint},
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
