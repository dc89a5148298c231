package buckets

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// azureVersion is the Blob REST API version the requests ask for.
const azureVersion = "2021-08-06"

// azureStore talks to the Blob REST API with SharedKey authorization.
type azureStore struct {
	http     httpDoer
	now      func() time.Time
	account  string
	key      []byte
	endpoint string
}

func newAzureStore(a Azure, d httpDoer, now func() time.Time) (*azureStore, error) {
	key, err := base64.StdEncoding.DecodeString(a.AccessKey)
	if err != nil {
		return nil, fmt.Errorf("azure: decode access key: %w", err)
	}
	ep := strings.TrimSuffix(a.Endpoint, "/")
	if ep == "" {
		ep = "https://" + a.StorageAccount + ".blob.core.windows.net"
	}
	return &azureStore{http: d, now: now, account: a.StorageAccount, key: key, endpoint: ep}, nil
}

// sharedKeyStringToSign builds the string Azure signs for SharedKey
// authorization, as documented in "Authorize with Shared Key" (version
// 2015-02-21 and later). The azuretest server has its own implementation,
// so a mistake here is not mirrored there.
func sharedKeyStringToSign(req *http.Request, account string) string {
	h := req.Header
	length := h.Get("Content-Length")
	if length == "" && req.ContentLength > 0 {
		length = strconv.FormatInt(req.ContentLength, 10)
	}
	if length == "0" {
		length = ""
	}
	var b strings.Builder
	for _, v := range []string{
		req.Method, h.Get("Content-Encoding"), h.Get("Content-Language"), length,
		h.Get("Content-MD5"), h.Get("Content-Type"), h.Get("Date"),
		h.Get("If-Modified-Since"), h.Get("If-Match"), h.Get("If-None-Match"),
		h.Get("If-Unmodified-Since"), h.Get("Range"),
	} {
		b.WriteString(v)
		b.WriteByte('\n')
	}
	var names []string
	for name := range h {
		if l := strings.ToLower(name); strings.HasPrefix(l, "x-ms-") {
			names = append(names, l)
		}
	}
	slices.Sort(names)
	for _, n := range names {
		b.WriteString(n + ":" + strings.TrimSpace(h.Get(n)) + "\n")
	}
	b.WriteString("/" + account + req.URL.EscapedPath())
	q := req.URL.Query()
	var params []string
	for k := range q {
		params = append(params, k)
	}
	slices.SortFunc(params, func(a, b string) int { return strings.Compare(strings.ToLower(a), strings.ToLower(b)) })
	for _, k := range params {
		vals := slices.Clone(q[k])
		slices.Sort(vals)
		b.WriteString("\n" + strings.ToLower(k) + ":" + strings.Join(vals, ","))
	}
	return b.String()
}

// sharedKeySignature returns the base64 HMAC-SHA256 of stringToSign.
func sharedKeySignature(key []byte, stringToSign string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(stringToSign))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

func (s *azureStore) call(ctx context.Context, op, method, rawURL string, body []byte, extra map[string]string) (response, error) {
	resp, err := s.http.do(ctx, op, func(ctx context.Context) (*http.Request, error) {
		req, err := http.NewRequestWithContext(ctx, method, rawURL, bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		req.Header.Set("x-ms-date", s.now().UTC().Format(http.TimeFormat))
		req.Header.Set("x-ms-version", azureVersion)
		for k, v := range extra {
			req.Header.Set(k, v)
		}
		if len(body) > 0 {
			req.Header.Set("Content-Length", strconv.Itoa(len(body)))
		}
		sig := sharedKeySignature(s.key, sharedKeyStringToSign(req, s.account))
		req.Header.Set("Authorization", "SharedKey "+s.account+":"+sig)
		return req, nil
	})
	if err != nil {
		return resp, err
	}
	if resp.Status/100 == 2 {
		return resp, nil
	}
	return resp, classifyAzure(op, resp)
}

// classifyAzure maps an error answer using x-ms-error-code (or the body's
// Code). AuthenticationFailed covers both a wrong key and a skewed clock;
// the detail text tells them apart.
func classifyAzure(op string, resp response) error {
	var x struct {
		Code   string `xml:"Code"`
		Detail string `xml:"AuthenticationErrorDetail"`
	}
	_ = xml.Unmarshal(resp.Body, &x)
	code := resp.Header.Get("X-Ms-Error-Code")
	if code == "" {
		code = x.Code
	}
	e := &opError{Op: op, Status: resp.Status, Code: code}
	switch code {
	case "AuthenticationFailed", "InvalidAuthenticationInfo":
		e.Kind = kindCredentials
		d := strings.ToLower(x.Detail)
		if strings.Contains(d, "x-ms-date") || strings.Contains(d, "date header") || strings.Contains(d, "request time") || strings.Contains(d, "clock") {
			e.Kind = kindClockSkew
		}
	case "ContainerNotFound", "ResourceNotFound":
		e.Kind = kindNotFound
	case "AuthorizationFailure", "AuthorizationPermissionMismatch", "InsufficientAccountPermissions", "PublicAccessNotPermitted", "AccountIsDisabled":
		e.Kind = kindAccessDenied
	default:
		switch resp.Status {
		case http.StatusForbidden:
			e.Kind = kindAccessDenied
		case http.StatusNotFound:
			e.Kind = kindNotFound
		}
	}
	return e
}

func (s *azureStore) blobURL(container, blob string) string {
	return s.endpoint + (&url.URL{Path: "/" + container + "/" + blob}).EscapedPath()
}

func (s *azureStore) Put(ctx context.Context, container, blob string, body []byte) error {
	_, err := s.call(ctx, "write", http.MethodPut, s.blobURL(container, blob), body,
		map[string]string{"x-ms-blob-type": "BlockBlob", "Content-Type": "text/plain"})
	return err
}

func (s *azureStore) Get(ctx context.Context, container, blob string) ([]byte, error) {
	resp, err := s.call(ctx, "read", http.MethodGet, s.blobURL(container, blob), nil, nil)
	return resp.Body, err
}

func (s *azureStore) List(ctx context.Context, container, prefix string) ([]string, error) {
	q := url.Values{"restype": {"container"}, "comp": {"list"}, "prefix": {prefix}}
	u := s.endpoint + "/" + url.PathEscape(container) + "?" + q.Encode()
	resp, err := s.call(ctx, "list", http.MethodGet, u, nil, nil)
	if err != nil {
		return nil, err
	}
	var out struct {
		Blobs []struct {
			Name string `xml:"Name"`
		} `xml:"Blobs>Blob"`
	}
	if err := xml.Unmarshal(resp.Body, &out); err != nil {
		return nil, &opError{Op: "list", Err: fmt.Errorf("decode listing: %w", err)}
	}
	names := make([]string, len(out.Blobs))
	for i, b := range out.Blobs {
		names[i] = b.Name
	}
	return names, nil
}

func (s *azureStore) Delete(ctx context.Context, container, blob string) error {
	_, err := s.call(ctx, "delete", http.MethodDelete, s.blobURL(container, blob), nil, nil)
	return err
}

// CORS reads the Blob service properties: Azure keeps CORS per storage
// account, so the container is not part of the request.
func (s *azureStore) CORS(ctx context.Context, _ string) ([]CORSRule, error) {
	resp, err := s.call(ctx, "cors", http.MethodGet, s.endpoint+"/?restype=service&comp=properties", nil, nil)
	if err != nil {
		return nil, err
	}
	var out struct {
		Rules []struct {
			Origins string `xml:"AllowedOrigins"`
			Methods string `xml:"AllowedMethods"`
			Headers string `xml:"AllowedHeaders"`
			MaxAge  int    `xml:"MaxAgeInSeconds"`
		} `xml:"Cors>CorsRule"`
	}
	if err := xml.Unmarshal(resp.Body, &out); err != nil {
		return nil, &opError{Op: "cors", Err: fmt.Errorf("decode service properties: %w", err)}
	}
	rules := make([]CORSRule, len(out.Rules))
	for i, r := range out.Rules {
		rules[i] = CORSRule{Origins: splitComma(r.Origins), Methods: splitComma(r.Methods), Headers: splitComma(r.Headers), MaxAge: r.MaxAge}
	}
	return rules, nil
}

func (s *azureStore) PublicURL(container, blob string) string { return s.blobURL(container, blob) }

func splitComma(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
