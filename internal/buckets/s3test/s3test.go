package s3test

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// The credentials of a Server whose Options leave them empty.
const (
	DefaultAccessKeyID     = "AKIATESTKEY000000001"
	DefaultSecretAccessKey = "test-secret/abc+123"
	DefaultRegion          = "eu-west-1"
)

// maxBody caps a request body; the checks' test objects are tiny.
const maxBody = 32 << 20

// s3NS is the namespace of S3's XML documents.
const s3NS = "http://s3.amazonaws.com/doc/2006-03-01/"

// Credentials are one access key and the region requests must be signed
// for.
type Credentials struct {
	AccessKeyID     string
	SecretAccessKey string
	Region          string
}

// Options configure New and Start.
type Options struct {
	// Credentials is the one key the server accepts; empty fields take the
	// Default values.
	Credentials Credentials
	// Buckets are created empty, private and without CORS.
	Buckets []string
	// Now is the server's clock, used to refuse requests signed more than
	// 15 minutes away from it, as S3 does. Default: time.Now.
	Now func() time.Time
}

// Server is one S3 account with one access key. It is an http.Handler that
// serves buckets path-style at the root of its URL; virtual-hosted bucket
// names are not supported.
type Server struct {
	// URL is the endpoint, http://127.0.0.1:PORT, when the server was
	// started with Start.
	URL string
	// Credentials is the key the server accepts.
	Credentials Credentials

	now     func() time.Time
	inner   http.Handler
	backend *s3mem.Backend

	mu     sync.Mutex
	cors   map[string]CORSConfiguration
	public map[string]bool
}

// New returns a server with the buckets of o; serve it with any
// http.Server, or use Start.
func New(o Options) (*Server, error) {
	c := o.Credentials
	if c.AccessKeyID == "" {
		c.AccessKeyID = DefaultAccessKeyID
	}
	if c.SecretAccessKey == "" {
		c.SecretAccessKey = DefaultSecretAccessKey
	}
	if c.Region == "" {
		c.Region = DefaultRegion
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	be := s3mem.New()
	s := &Server{
		Credentials: c, now: o.Now, backend: be,
		// The front checks the clock against the signed date itself.
		inner: gofakes3.New(be, gofakes3.WithTimeSkewLimit(0)).Server(),
		cors:  map[string]CORSConfiguration{}, public: map[string]bool{},
	}
	for _, b := range o.Buckets {
		if err := s.CreateBucket(b); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Start serves a new server on a free loopback port until the test ends.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	s.URL = ts.URL
	return s
}

// CreateBucket adds an empty, private bucket without CORS.
func (s *Server) CreateBucket(name string) error {
	if err := s.backend.CreateBucket(name); err != nil {
		return fmt.Errorf("s3test: create bucket %s: %w", name, err)
	}
	return nil
}

// SetPublic lets anyone read the bucket's objects without credentials, or
// stops it. gofakes3 has no ACLs or bucket policies, so this stands in for
// them.
func (s *Server) SetPublic(bucket string, public bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.public[bucket] = public
}

// SetCORS replaces the bucket's CORS configuration, as PutBucketCors does
// but without its validation, so that a test can also store what S3 would
// refuse.
func (s *Server) SetCORS(bucket string, cfg CORSConfiguration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cors[bucket] = cfg
}

// ClearCORS removes the bucket's CORS configuration.
func (s *Server) ClearCORS(bucket string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.cors, bucket)
}

// CORS returns the bucket's CORS configuration and whether it has one.
func (s *Server) CORS(bucket string) (CORSConfiguration, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cfg, ok := s.cors[bucket]
	return cfg, ok
}

// Objects returns the keys in a bucket, sorted.
func (s *Server) Objects(bucket string) ([]string, error) {
	list, err := s.backend.ListBucket(bucket, nil, gofakes3.ListBucketPage{})
	if err != nil {
		return nil, fmt.Errorf("s3test: list %s: %w", bucket, err)
	}
	keys := make([]string, 0, len(list.Contents))
	for _, c := range list.Contents {
		keys = append(keys, c.Key)
	}
	sort.Strings(keys)
	return keys, nil
}

func (s *Server) bucketExists(bucket string) bool {
	ok, err := s.backend.BucketExists(bucket)
	return err == nil && ok
}

// writeError answers with an S3 error document.
func writeError(w http.ResponseWriter, status int, code, message, extra string) {
	if message == "" {
		message = code
	}
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>`+"\n<Error><Code>%s</Code><Message>%s</Message>%s</Error>", code, xmlText(message), extra)
}

// xmlText escapes s for an XML text node.
func xmlText(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

// ServeHTTP answers preflights and anonymous reads, verifies the signature
// of everything else, serves the bucket CORS API, and hands the rest to
// gofakes3.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		writeError(w, http.StatusBadRequest, "IncompleteBody", "", "")
		return
	}
	if len(body) > maxBody {
		writeError(w, http.StatusBadRequest, "EntityTooLarge", "", "")
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	bucket, key, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")

	if r.Method == http.MethodOptions {
		s.preflight(w, r, bucket)
		return
	}
	if r.Header.Get("Authorization") == "" {
		s.mu.Lock()
		public := s.public[bucket]
		s.mu.Unlock()
		if (r.Method == http.MethodGet || r.Method == http.MethodHead) && key != "" && public {
			s.inner.ServeHTTP(s.corsWriter(w, r, bucket), r)
			return
		}
		writeError(w, http.StatusForbidden, "AccessDenied", "Access Denied", "")
		return
	}
	if status, code, extra := s.verify(r, body); code != "" {
		writeError(w, status, code, "", extra)
		return
	}
	if _, ok := r.URL.Query()["cors"]; ok && bucket != "" && key == "" {
		s.bucketCORS(w, r, bucket, body)
		return
	}
	s.inner.ServeHTTP(s.corsWriter(w, r, bucket), r)
	if r.Method == http.MethodDelete && bucket != "" && key == "" && !s.bucketExists(bucket) {
		s.mu.Lock()
		delete(s.cors, bucket)
		delete(s.public, bucket)
		s.mu.Unlock()
	}
}

// bucketCORS serves PutBucketCors, GetBucketCors and DeleteBucketCors.
func (s *Server) bucketCORS(w http.ResponseWriter, r *http.Request, bucket string, body []byte) {
	if !s.bucketExists(bucket) {
		writeError(w, http.StatusNotFound, "NoSuchBucket", "The specified bucket does not exist", "<BucketName>"+xmlText(bucket)+"</BucketName>")
		return
	}
	switch r.Method {
	case http.MethodGet:
		cfg, ok := s.CORS(bucket)
		if !ok {
			writeError(w, http.StatusNotFound, "NoSuchCORSConfiguration", "The CORS configuration does not exist", "<BucketName>"+xmlText(bucket)+"</BucketName>")
			return
		}
		out, err := encodeCORS(cfg)
		if err != nil {
			writeError(w, http.StatusInternalServerError, "InternalError", "", "")
			return
		}
		w.Header().Set("Content-Type", "application/xml")
		io.WriteString(w, xml.Header)
		w.Write(out)
	case http.MethodPut:
		if code, msg := checkIntegrity(r.Header, body); code != "" {
			writeError(w, http.StatusBadRequest, code, msg, "")
			return
		}
		var cfg CORSConfiguration
		if err := xml.Unmarshal(body, &cfg); err != nil {
			writeError(w, http.StatusBadRequest, "MalformedXML", "The XML you provided was not well-formed or did not validate against our published schema", "")
			return
		}
		if code, msg := cfg.problem(); code != "" {
			writeError(w, http.StatusBadRequest, code, msg, "")
			return
		}
		cfg.XMLName = xml.Name{}
		s.SetCORS(bucket, cfg)
		w.WriteHeader(http.StatusOK)
	case http.MethodDelete:
		s.ClearCORS(bucket)
		w.WriteHeader(http.StatusNoContent)
	default:
		writeError(w, http.StatusMethodNotAllowed, "MethodNotAllowed", "The specified method is not allowed against this resource.", "")
	}
}

// preflight answers a browser's CORS preflight from the bucket's rules, as
// S3 does: without credentials, and with 403 when no rule allows it.
func (s *Server) preflight(w http.ResponseWriter, r *http.Request, bucket string) {
	origin, method := r.Header.Get("Origin"), r.Header.Get("Access-Control-Request-Method")
	if origin == "" || method == "" {
		writeError(w, http.StatusBadRequest, "BadRequest", "Insufficient information. Origin request header needed.", "")
		return
	}
	cfg, ok := s.CORS(bucket)
	if !ok || !s.bucketExists(bucket) {
		writeError(w, http.StatusForbidden, "AccessForbidden", "CORSResponse: CORS is not enabled for this bucket.", "")
		return
	}
	var headers []string
	for _, h := range strings.Split(r.Header.Get("Access-Control-Request-Headers"), ",") {
		if h = strings.TrimSpace(h); h != "" {
			headers = append(headers, h)
		}
	}
	rule, ok := cfg.Match(origin, method, headers)
	if !ok {
		writeError(w, http.StatusForbidden, "AccessForbidden", "CORSResponse: This CORS request is not allowed.", "")
		return
	}
	h := w.Header()
	allowOrigin(h, rule, origin)
	h.Set("Access-Control-Allow-Methods", strings.Join(rule.AllowedMethods, ", "))
	if len(headers) > 0 {
		h.Set("Access-Control-Allow-Headers", strings.Join(headers, ", "))
	}
	if rule.MaxAgeSeconds > 0 {
		h.Set("Access-Control-Max-Age", fmt.Sprint(rule.MaxAgeSeconds))
	}
	h.Set("Vary", "Origin, Access-Control-Request-Headers, Access-Control-Request-Method")
	w.WriteHeader(http.StatusOK)
}

func allowOrigin(h http.Header, rule CORSRule, origin string) {
	if slices.Contains(rule.AllowedOrigins, "*") {
		h.Set("Access-Control-Allow-Origin", "*")
	} else {
		h.Set("Access-Control-Allow-Origin", origin)
		h.Set("Access-Control-Allow-Credentials", "true")
	}
	if len(rule.ExposeHeaders) > 0 {
		h.Set("Access-Control-Expose-Headers", strings.Join(rule.ExposeHeaders, ", "))
	}
}

// corsWriter replaces the headers gofakes3 adds to every answer (it allows
// any origin) with those the bucket's rules give the request, if any.
func (s *Server) corsWriter(w http.ResponseWriter, r *http.Request, bucket string) http.ResponseWriter {
	return &corsResponse{ResponseWriter: w, set: func(h http.Header) {
		for k := range h {
			if strings.HasPrefix(k, "Access-Control-") {
				delete(h, k)
			}
		}
		origin := r.Header.Get("Origin")
		if origin == "" {
			return
		}
		h.Add("Vary", "Origin")
		if cfg, ok := s.CORS(bucket); ok {
			if rule, ok := cfg.Match(origin, r.Method, nil); ok {
				allowOrigin(h, rule, origin)
			}
		}
	}}
}

type corsResponse struct {
	http.ResponseWriter
	set   func(http.Header)
	wrote bool
}

func (c *corsResponse) WriteHeader(status int) {
	if !c.wrote {
		c.wrote = true
		c.set(c.Header())
	}
	c.ResponseWriter.WriteHeader(status)
}

func (c *corsResponse) Write(p []byte) (int, error) {
	if !c.wrote {
		c.WriteHeader(http.StatusOK)
	}
	return c.ResponseWriter.Write(p)
}
