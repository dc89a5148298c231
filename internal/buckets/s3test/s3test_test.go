package s3test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"hash/crc64"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/google/go-cmp/cmp"
)

var cartoRule = CORSConfiguration{Rules: []CORSRule{{
	AllowedOrigins: []string{"*"},
	AllowedMethods: []string{"GET", "PUT", "POST"},
	AllowedHeaders: []string{"Content-Type", "Content-MD5", "Content-Disposition", "Cache-Control"},
	MaxAgeSeconds:  3600,
}}}

func testCtx(t *testing.T) context.Context {
	t.Helper()
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

// errCode returns the S3 error code of err, or "".
func errCode(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// TestBucketCORSRoundTrip sets, reads and deletes a bucket's CORS through
// the signed API, and checks that the server's view follows.
func TestBucketCORSRoundTrip(t *testing.T) {
	srv := Start(t, Options{Buckets: []string{"imports"}})
	c := srv.Client()
	if _, err := c.BucketCORS(testCtx(t), "imports"); errCode(err) != "NoSuchCORSConfiguration" {
		t.Fatalf("before any rule: %v, want NoSuchCORSConfiguration", err)
	}
	if err := c.PutBucketCORS(testCtx(t), "imports", cartoRule); err != nil {
		t.Fatal(err)
	}
	got, err := c.BucketCORS(testCtx(t), "imports")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(cartoRule, got); diff != "" {
		t.Errorf("GetBucketCors (-put +got):\n%s", diff)
	}
	if stored, ok := srv.CORS("imports"); !ok || !cmp.Equal(stored, cartoRule) {
		t.Errorf("server holds %+v, %v", stored, ok)
	}
	if err := c.DeleteBucketCORS(testCtx(t), "imports"); err != nil {
		t.Fatal(err)
	}
	if _, ok := srv.CORS("imports"); ok {
		t.Error("the rule survived DeleteBucketCors")
	}
	srv.SetCORS("imports", cartoRule)
	srv.ClearCORS("imports")
	if _, err := c.BucketCORS(testCtx(t), "imports"); errCode(err) != "NoSuchCORSConfiguration" {
		t.Fatalf("after ClearCORS: %v", err)
	}
}

// TestRequestsRefused covers the signature checks and PutBucketCors's
// validation: each request gets the code S3 answers with.
func TestRequestsRefused(t *testing.T) {
	srv := Start(t, Options{Buckets: []string{"imports"}, Credentials: Credentials{Region: "us-east-2"}})
	tests := []struct {
		name   string
		client func(*Client)
		bucket string
		cfg    *CORSConfiguration // nil: CARTO's rule
		header http.Header
		want   string
	}{
		{name: "wrong key id", client: func(c *Client) { c.Credentials.AccessKeyID = "AKIAOTHER" }, want: "InvalidAccessKeyId"},
		{name: "wrong secret", client: func(c *Client) { c.Credentials.SecretAccessKey = "other" }, want: "SignatureDoesNotMatch"},
		{name: "wrong region", client: func(c *Client) { c.Credentials.Region = "eu-west-1" }, want: "AuthorizationHeaderMalformed"},
		{name: "clock skew", client: func(c *Client) { c.Now = func() time.Time { return time.Now().Add(20 * time.Minute) } }, want: "RequestTimeTooSkewed"},
		{name: "no such bucket", bucket: "nope", want: "NoSuchBucket"},
		{name: "no rules", cfg: &CORSConfiguration{}, want: "MalformedXML"},
		{name: "rule without origin", cfg: &CORSConfiguration{Rules: []CORSRule{{AllowedMethods: []string{"GET"}}}}, want: "MalformedXML"},
		{name: "unsupported method", cfg: &CORSConfiguration{Rules: []CORSRule{{AllowedOrigins: []string{"*"}, AllowedMethods: []string{"PATCH"}}}}, want: "InvalidRequest"},
		{name: "two wildcards", cfg: &CORSConfiguration{Rules: []CORSRule{{AllowedOrigins: []string{"https://*.*.com"}, AllowedMethods: []string{"GET"}}}}, want: "InvalidRequest"},
		{name: "wrong Content-MD5", header: http.Header{"Content-Md5": {"1B2M2Y8AsgTpgAmY7PhCfg=="}}, want: "BadDigest"},
		{name: "no integrity header", header: http.Header{}, want: "InvalidRequest"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := srv.Client()
			if tt.client != nil {
				tt.client(c)
			}
			bucket := tt.bucket
			if bucket == "" {
				bucket = "imports"
			}
			cfg := cartoRule
			if tt.cfg != nil {
				cfg = *tt.cfg
			}
			var err error
			if tt.header != nil {
				body, _ := encodeCORS(cfg)
				_, err = c.call(testCtx(t), http.MethodPut, bucket, body, tt.header)
			} else {
				err = c.PutBucketCORS(testCtx(t), bucket, cfg)
			}
			if got := errCode(err); got != tt.want {
				t.Fatalf("error %v, want code %s", err, tt.want)
			}
			if _, ok := srv.CORS("imports"); ok {
				t.Fatal("a refused request stored a rule")
			}
		})
	}
}

// TestChecksumHeaders accepts PutBucketCors with an x-amz-checksum-* header
// instead of Content-MD5, and refuses a wrong one.
func TestChecksumHeaders(t *testing.T) {
	srv := Start(t, Options{Buckets: []string{"imports"}})
	body, err := encodeCORS(cartoRule)
	if err != nil {
		t.Fatal(err)
	}
	for name, newHash := range checksums {
		t.Run(name, func(t *testing.T) {
			d := newHash()
			d.Write(body)
			good := base64.StdEncoding.EncodeToString(d.Sum(nil))
			h := http.Header{"X-Amz-Checksum-" + name: {good}}
			if _, err := srv.Client().call(testCtx(t), http.MethodPut, "imports", body, h); err != nil {
				t.Fatalf("right %s: %v", name, err)
			}
			h = http.Header{"X-Amz-Checksum-" + name: {base64.StdEncoding.EncodeToString(make([]byte, d.Size()))}}
			if _, err := srv.Client().call(testCtx(t), http.MethodPut, "imports", body, h); errCode(err) != "BadDigest" {
				t.Fatalf("wrong %s: %v", name, err)
			}
		})
	}
}

// TestCRC64NVME checks the table against the catalogue's check value.
func TestCRC64NVME(t *testing.T) {
	if got := crc64.Checksum([]byte("123456789"), crc64NVME); got != 0xae8b14860a799888 {
		t.Fatalf("CRC-64/NVME check value %#x", got)
	}
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], 0xae8b14860a799888)
	d := checksums["crc64nvme"]()
	d.Write([]byte("123456789"))
	if !bytes.Equal(d.Sum(nil), b[:]) {
		t.Fatal("the digest is not the big-endian CRC")
	}
}

// TestCORSJSON reads the cors.json shape the aws command takes.
func TestCORSJSON(t *testing.T) {
	doc := `{
  "CORSRules": [
    {
      "AllowedOrigins": ["*"],
      "AllowedMethods": ["GET", "PUT", "POST"],
      "AllowedHeaders": ["Content-Type", "Content-MD5", "Content-Disposition", "Cache-Control"],
      "MaxAgeSeconds": 3600
    }
  ]
}`
	var got CORSConfiguration
	if err := json.Unmarshal([]byte(doc), &got); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(cartoRule, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// signedRequest sends a request signed with the server's key.
func signedRequest(t *testing.T, srv *Server, method, path string, body []byte, header http.Header) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(testCtx(t), method, srv.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	sum := sha256.Sum256(body)
	hash := hex.EncodeToString(sum[:])
	req.Header.Set("X-Amz-Content-Sha256", hash)
	creds := aws.Credentials{AccessKeyID: srv.Credentials.AccessKeyID, SecretAccessKey: srv.Credentials.SecretAccessKey}
	if err := v4.NewSigner().SignHTTP(testCtx(t), creds, req, hash, "s3", srv.Credentials.Region, time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func anonymous(t *testing.T, srv *Server, method, path string, header http.Header) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(testCtx(t), method, srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header = header
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// TestObjectsAndPublicReads stores an object through gofakes3 with a signed
// request and reads it anonymously only once the bucket is public.
func TestObjectsAndPublicReads(t *testing.T) {
	srv := Start(t, Options{Buckets: []string{"thumbs"}})
	if resp := signedRequest(t, srv, http.MethodPut, "/thumbs/a/b.txt", []byte("hello"), nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("signed put: HTTP %d", resp.StatusCode)
	}
	if keys, err := srv.Objects("thumbs"); err != nil || !cmp.Equal(keys, []string{"a/b.txt"}) {
		t.Fatalf("objects %v, %v", keys, err)
	}
	if resp, body := anonymous(t, srv, http.MethodGet, "/thumbs/a/b.txt", nil); resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "AccessDenied") {
		t.Fatalf("anonymous read of a private bucket: HTTP %d %s", resp.StatusCode, body)
	}
	srv.SetPublic("thumbs", true)
	if resp, body := anonymous(t, srv, http.MethodGet, "/thumbs/a/b.txt", nil); resp.StatusCode != http.StatusOK || body != "hello" {
		t.Fatalf("anonymous read of a public bucket: HTTP %d %q", resp.StatusCode, body)
	}
	if resp, _ := anonymous(t, srv, http.MethodGet, "/thumbs?list-type=2", nil); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("anonymous listing: HTTP %d", resp.StatusCode)
	}
}

// TestPreflight answers browser preflights from the stored rules only:
// gofakes3's own allow-everything headers never reach the browser.
func TestPreflight(t *testing.T) {
	srv := Start(t, Options{Buckets: []string{"imports"}})
	srv.SetPublic("imports", true)
	signedRequest(t, srv, http.MethodPut, "/imports/x", []byte("x"), nil)
	preflight := func(method, headers string) http.Header {
		return http.Header{"Origin": {"https://carto.example.com"}, "Access-Control-Request-Method": {method}, "Access-Control-Request-Headers": {headers}}
	}

	if resp, body := anonymous(t, srv, http.MethodOptions, "/imports/x", preflight("PUT", "content-type")); resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "not enabled") {
		t.Fatalf("preflight without CORS: HTTP %d %s", resp.StatusCode, body)
	}
	resp, _ := anonymous(t, srv, http.MethodGet, "/imports/x", http.Header{"Origin": {"https://carto.example.com"}})
	if v := resp.Header.Get("Access-Control-Allow-Origin"); resp.StatusCode != http.StatusOK || v != "" {
		t.Fatalf("GET without CORS: HTTP %d, Access-Control-Allow-Origin %q", resp.StatusCode, v)
	}

	srv.SetCORS("imports", cartoRule)
	resp, _ = anonymous(t, srv, http.MethodOptions, "/imports/x", preflight("PUT", "content-type, content-md5"))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("allowed preflight: HTTP %d", resp.StatusCode)
	}
	for k, want := range map[string]string{
		"Access-Control-Allow-Origin":  "*",
		"Access-Control-Allow-Methods": "GET, PUT, POST",
		"Access-Control-Allow-Headers": "content-type, content-md5",
		"Access-Control-Max-Age":       "3600",
	} {
		if got := resp.Header.Get(k); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
	for _, tt := range []struct{ method, headers string }{{"DELETE", ""}, {"PUT", "x-amz-acl"}} {
		if resp, _ := anonymous(t, srv, http.MethodOptions, "/imports/x", preflight(tt.method, tt.headers)); resp.StatusCode != http.StatusForbidden {
			t.Errorf("preflight %s %s: HTTP %d, want 403", tt.method, tt.headers, resp.StatusCode)
		}
	}
	resp, _ = anonymous(t, srv, http.MethodGet, "/imports/x", http.Header{"Origin": {"https://carto.example.com"}})
	if v := resp.Header.Get("Access-Control-Allow-Origin"); v != "*" {
		t.Fatalf("GET with CORS: Access-Control-Allow-Origin %q", v)
	}
}

func TestWildcard(t *testing.T) {
	tests := []struct {
		pattern, s string
		want       bool
	}{
		{"*", "https://a.example", true},
		{"https://*.example.com", "https://carto.example.com", true},
		{"https://*.example.com", "http://carto.example.com", false},
		{"https://carto.example.com", "https://carto.example.com", true},
		{"https://*.example.com", "https://.example.com", true},
		{"ab*ba", "aba", false},
	}
	for _, tt := range tests {
		if got := wildcard(tt.pattern, tt.s, false); got != tt.want {
			t.Errorf("wildcard(%q, %q) = %v", tt.pattern, tt.s, got)
		}
	}
}
