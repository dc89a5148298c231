// Package azuretest is a small in-memory Azure Blob service for tests: no
// Azure emulator can be installed here. It implements only the calls the
// buckets checks make (put, get, list and delete blob, and get service
// properties for CORS) and verifies every SharedKey signature as Microsoft's
// "Authorize with Shared Key" page describes, written independently of the
// client so that a signing mistake fails the tests. It is test code: nothing
// in the product imports it.
package azuretest

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"
)

// CORSRule is one rule of the account's Blob service CORS settings, with the
// comma-separated lists the REST API uses.
type CORSRule struct {
	AllowedOrigins  string `xml:"AllowedOrigins"`
	AllowedMethods  string `xml:"AllowedMethods"`
	AllowedHeaders  string `xml:"AllowedHeaders"`
	ExposedHeaders  string `xml:"ExposedHeaders"`
	MaxAgeInSeconds int    `xml:"MaxAgeInSeconds"`
}

// Server is one storage account. Create it with New; it is an http.Handler
// that serves the account at the root of the server's URL.
type Server struct {
	account string
	key     []byte
	now     func() time.Time

	mu         sync.Mutex
	containers map[string]*container
	cors       []CORSRule
}

type container struct {
	public bool
	blobs  map[string][]byte
}

// New returns an account named account whose access key is the base64 key.
// now is the server's clock, used to refuse requests whose x-ms-date is more
// than 15 minutes off, as Azure does.
func New(account, key string, now func() time.Time) (*Server, error) {
	k, err := base64.StdEncoding.DecodeString(key)
	if err != nil {
		return nil, fmt.Errorf("azuretest: decode key: %w", err)
	}
	return &Server{account: account, key: k, now: now, containers: map[string]*container{}}, nil
}

// CreateContainer adds an empty container; public allows anonymous blob reads.
func (s *Server) CreateContainer(name string, public bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.containers[name] = &container{public: public, blobs: map[string][]byte{}}
}

// SetCORS replaces the account's Blob service CORS rules.
func (s *Server) SetCORS(rules []CORSRule) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cors = rules
}

// Blobs returns the names of the blobs in a container.
func (s *Server) Blobs(name string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var names []string
	if c := s.containers[name]; c != nil {
		for n := range c.blobs {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names
}

func writeError(w http.ResponseWriter, status int, code, detail string) {
	w.Header().Set("x-ms-error-code", code)
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<?xml version="1.0" encoding="utf-8"?><Error><Code>%s</Code><Message>%s</Message>`, code, code)
	if detail != "" {
		fmt.Fprintf(w, "<AuthenticationErrorDetail>%s</AuthenticationErrorDetail>", detail)
	}
	io.WriteString(w, "</Error>")
}

// ServeHTTP implements the handful of Blob REST operations.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		writeError(w, http.StatusBadRequest, "InvalidInput", "")
		return
	}
	// "/container/blob/with/slashes"
	path := strings.TrimPrefix(r.URL.Path, "/")
	containerName, blob, _ := strings.Cut(path, "/")
	q := r.URL.Query()

	authorized := false
	if auth := r.Header.Get("Authorization"); auth != "" {
		if code, detail := s.verify(r); code != "" {
			writeError(w, http.StatusForbidden, code, detail)
			return
		}
		authorized = true
	}

	s.mu.Lock()
	defer s.mu.Unlock()

	if containerName == "" {
		if q.Get("restype") == "service" && q.Get("comp") == "properties" && r.Method == http.MethodGet {
			if !authorized {
				writeError(w, http.StatusForbidden, "NoAuthenticationInformation", "")
				return
			}
			type props struct {
				XMLName xml.Name   `xml:"StorageServiceProperties"`
				Rules   []CORSRule `xml:"Cors>CorsRule"`
			}
			w.Header().Set("Content-Type", "application/xml")
			_ = xml.NewEncoder(w).Encode(props{Rules: s.cors})
			return
		}
		writeError(w, http.StatusBadRequest, "UnsupportedHttpVerb", "")
		return
	}
	c := s.containers[containerName]
	if c == nil {
		writeError(w, http.StatusNotFound, "ContainerNotFound", "")
		return
	}
	if !authorized && !(c.public && r.Method == http.MethodGet && blob != "") {
		// Azure answers anonymous requests for private data with 404.
		writeError(w, http.StatusNotFound, "ResourceNotFound", "")
		return
	}
	switch {
	case blob == "" && r.Method == http.MethodGet && q.Get("restype") == "container" && q.Get("comp") == "list":
		type item struct {
			Name string `xml:"Name"`
		}
		type result struct {
			XMLName xml.Name `xml:"EnumerationResults"`
			Blobs   []item   `xml:"Blobs>Blob"`
		}
		var res result
		var names []string
		for n := range c.blobs {
			if strings.HasPrefix(n, q.Get("prefix")) {
				names = append(names, n)
			}
		}
		sort.Strings(names)
		for _, n := range names {
			res.Blobs = append(res.Blobs, item{Name: n})
		}
		w.Header().Set("Content-Type", "application/xml")
		_ = xml.NewEncoder(w).Encode(res)
	case blob != "" && r.Method == http.MethodPut:
		if r.Header.Get("x-ms-blob-type") != "BlockBlob" {
			writeError(w, http.StatusBadRequest, "MissingRequiredHeader", "")
			return
		}
		c.blobs[blob] = body
		w.WriteHeader(http.StatusCreated)
	case blob != "" && r.Method == http.MethodGet:
		data, ok := c.blobs[blob]
		if !ok {
			writeError(w, http.StatusNotFound, "BlobNotFound", "")
			return
		}
		w.Write(data)
	case blob != "" && r.Method == http.MethodDelete:
		if _, ok := c.blobs[blob]; !ok {
			writeError(w, http.StatusNotFound, "BlobNotFound", "")
			return
		}
		delete(c.blobs, blob)
		w.WriteHeader(http.StatusAccepted)
	default:
		writeError(w, http.StatusBadRequest, "UnsupportedHttpVerb", "")
	}
}

// verify checks the SharedKey Authorization header and the request date. It
// returns Azure's error code and detail, or "" when the request is good.
func (s *Server) verify(r *http.Request) (code, detail string) {
	if r.Header.Get("x-ms-version") == "" {
		return "MissingRequiredHeader", ""
	}
	scheme, cred, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	account, sig, ok := strings.Cut(cred, ":")
	if scheme != "SharedKey" || !ok || account != s.account {
		return "InvalidAuthenticationInfo", "Authentication scheme or account is not valid."
	}
	date := r.Header.Get("x-ms-date")
	if date == "" {
		date = r.Header.Get("Date")
	}
	t, err := http.ParseTime(date)
	if err != nil {
		return "AuthenticationFailed", "The x-ms-date header is missing or malformed."
	}
	if d := s.now().Sub(t); d > 15*time.Minute || d < -15*time.Minute {
		return "AuthenticationFailed", "Request date header too old: '" + date + "'"
	}
	mac := hmac.New(sha256.New, s.key)
	mac.Write([]byte(stringToSign(r, s.account)))
	want := base64.StdEncoding.EncodeToString(mac.Sum(nil))
	if !hmac.Equal([]byte(want), []byte(sig)) {
		return "AuthenticationFailed", "The MAC signature found in the HTTP request is not the same as any computed signature."
	}
	return "", ""
}

// stringToSign follows the documented layout for version 2015-02-21 and
// later: the verb, eleven standard headers (Content-Length empty when zero),
// the canonicalized x-ms- headers and the canonicalized resource.
func stringToSign(r *http.Request, account string) string {
	get := r.Header.Get
	length := get("Content-Length")
	if length == "" && r.ContentLength > 0 {
		length = fmt.Sprint(r.ContentLength)
	}
	if length == "0" {
		length = ""
	}
	lines := []string{
		r.Method,
		get("Content-Encoding"),
		get("Content-Language"),
		length,
		get("Content-MD5"),
		get("Content-Type"),
		get("Date"),
		get("If-Modified-Since"),
		get("If-Match"),
		get("If-None-Match"),
		get("If-Unmodified-Since"),
		get("Range"),
	}
	// Canonicalized headers: every x-ms- header, lower-cased, sorted,
	// "name:value" with surrounding white space trimmed.
	msHeaders := map[string]string{}
	for name, values := range r.Header {
		lower := strings.ToLower(name)
		if strings.HasPrefix(lower, "x-ms-") {
			msHeaders[lower] = strings.TrimSpace(strings.Join(values, ","))
		}
	}
	names := make([]string, 0, len(msHeaders))
	for n := range msHeaders {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		lines = append(lines, n+":"+msHeaders[n])
	}
	// Canonicalized resource: "/" + account + the encoded URI path, then each
	// query parameter, lower-cased and sorted, as "name:v1,v2".
	resource := "/" + account + (&url.URL{Path: r.URL.Path}).EscapedPath()
	query := map[string][]string{}
	for k, v := range r.URL.Query() {
		query[strings.ToLower(k)] = append(query[strings.ToLower(k)], v...)
	}
	params := make([]string, 0, len(query))
	for k := range query {
		params = append(params, k)
	}
	sort.Strings(params)
	for _, k := range params {
		vals := query[k]
		sort.Strings(vals)
		resource += "\n" + k + ":" + strings.Join(vals, ",")
	}
	return strings.Join(lines, "\n") + "\n" + resource
}
