package s3test

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"hash"
	"hash/crc32"
	"hash/crc64"
	"net/http"
	"slices"
	"strings"
)

// CORSConfiguration is a bucket's CORS configuration. Its XML form is S3's
// wire format; its JSON form is the cors.json file the aws command takes
// (aws s3api put-bucket-cors --cors-configuration file://cors.json), so a
// test can apply exactly what a fix text tells the admin to save.
type CORSConfiguration struct {
	XMLName xml.Name   `xml:"CORSConfiguration" json:"-"`
	Rules   []CORSRule `xml:"CORSRule" json:"CORSRules"`
}

// CORSRule is one rule. AllowedOrigins and AllowedHeaders may hold one "*"
// wildcard each.
type CORSRule struct {
	ID             string   `xml:"ID,omitempty" json:"ID,omitempty"`
	AllowedOrigins []string `xml:"AllowedOrigin" json:"AllowedOrigins"`
	AllowedMethods []string `xml:"AllowedMethod" json:"AllowedMethods"`
	AllowedHeaders []string `xml:"AllowedHeader" json:"AllowedHeaders,omitempty"`
	ExposeHeaders  []string `xml:"ExposeHeader" json:"ExposeHeaders,omitempty"`
	MaxAgeSeconds  int      `xml:"MaxAgeSeconds,omitempty" json:"MaxAgeSeconds,omitempty"`
}

// corsMethods are the methods S3 accepts in a CORS rule.
var corsMethods = []string{"GET", "PUT", "POST", "DELETE", "HEAD"}

// problem returns the error code and message S3 gives a configuration it
// refuses, or "".
func (c CORSConfiguration) problem() (string, string) {
	const malformed = "The XML you provided was not well-formed or did not validate against our published schema"
	if len(c.Rules) == 0 {
		return "MalformedXML", malformed
	}
	if len(c.Rules) > 100 {
		return "InvalidRequest", "The number of CORS rules should not exceed allowed limit of 100 rules."
	}
	for _, r := range c.Rules {
		if len(r.AllowedOrigins) == 0 || len(r.AllowedMethods) == 0 || len(r.ID) > 255 {
			return "MalformedXML", malformed
		}
		for _, m := range r.AllowedMethods {
			if !slices.Contains(corsMethods, m) {
				return "InvalidRequest", "Found unsupported HTTP method in CORS config. Unsupported method is " + m
			}
		}
		for _, o := range r.AllowedOrigins {
			if strings.Count(o, "*") > 1 {
				return "InvalidRequest", fmt.Sprintf("AllowedOrigin %q can not have more than one wildcard.", o)
			}
		}
		for _, h := range r.AllowedHeaders {
			if strings.Count(h, "*") > 1 {
				return "InvalidRequest", fmt.Sprintf("AllowedHeader %q can not have more than one wildcard.", h)
			}
		}
	}
	return "", ""
}

// Match returns the first rule that allows a cross-origin request from
// origin with method and the given request headers, as S3 evaluates it.
func (c CORSConfiguration) Match(origin, method string, headers []string) (CORSRule, bool) {
	for _, r := range c.Rules {
		if !slices.ContainsFunc(r.AllowedOrigins, func(p string) bool { return wildcard(p, origin, false) }) {
			continue
		}
		if !slices.Contains(r.AllowedMethods, method) {
			continue
		}
		allowed := true
		for _, h := range headers {
			if !slices.ContainsFunc(r.AllowedHeaders, func(p string) bool { return wildcard(p, h, true) }) {
				allowed = false
				break
			}
		}
		if allowed {
			return r, true
		}
	}
	return CORSRule{}, false
}

// wildcard matches s against a pattern with at most one "*".
func wildcard(pattern, s string, fold bool) bool {
	if fold {
		pattern, s = strings.ToLower(pattern), strings.ToLower(s)
	}
	before, after, ok := strings.Cut(pattern, "*")
	if !ok {
		return pattern == s
	}
	return len(s) >= len(before)+len(after) && strings.HasPrefix(s, before) && strings.HasSuffix(s, after)
}

// crc64NVME is CRC-64/NVME: Go's crc64 with the reversed NVMe polynomial.
var crc64NVME = crc64.MakeTable(0x9a6c9329ac4bc9b5)

// checksums are the x-amz-checksum-* algorithms S3 accepts. S3 sends a CRC
// as the base64 of its big-endian bytes, which is what hash.Hash.Sum gives.
var checksums = map[string]func() hash.Hash{
	"crc32":     func() hash.Hash { return crc32.NewIEEE() },
	"crc32c":    func() hash.Hash { return crc32.New(crc32.MakeTable(crc32.Castagnoli)) },
	"crc64nvme": func() hash.Hash { return crc64.New(crc64NVME) },
	"sha1":      sha1.New,
	"sha256":    sha256.New,
}

// checkIntegrity verifies the integrity header S3 requires on
// PutBucketCors: Content-MD5, or one x-amz-checksum-* header (what newer
// SDKs and the aws command send instead). It returns S3's error code and
// message, or "".
func checkIntegrity(h http.Header, body []byte) (string, string) {
	sum := func(newHash func() hash.Hash) string {
		d := newHash()
		d.Write(body)
		return base64.StdEncoding.EncodeToString(d.Sum(nil))
	}
	checked := false
	if v := h.Get("Content-MD5"); v != "" {
		raw, err := base64.StdEncoding.DecodeString(v)
		if err != nil || len(raw) != md5.Size {
			return "InvalidDigest", "The Content-MD5 you specified was invalid."
		}
		if v != sum(md5.New) {
			return "BadDigest", "The Content-MD5 you specified did not match what we received."
		}
		checked = true
	}
	for name, newHash := range checksums {
		v := h.Get("X-Amz-Checksum-" + name)
		if v == "" {
			continue
		}
		if v != sum(newHash) {
			return "BadDigest", "The " + strings.ToUpper(name) + " you specified did not match the calculated checksum."
		}
		checked = true
	}
	if !checked {
		return "InvalidRequest", "Missing required header for this request: Content-MD5"
	}
	return "", ""
}
