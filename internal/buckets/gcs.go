package buckets

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// gcsScope is enough to write objects and read bucket metadata (CORS).
const gcsScope = "https://www.googleapis.com/auth/devstorage.read_write"

// gcsStore talks to the GCS JSON API with an OAuth token obtained from a
// service-account JWT (RFC 7523), the flow Google's libraries use.
type gcsStore struct {
	http     httpDoer
	now      func() time.Time
	endpoint string
	sa       serviceAccount
	key      *rsa.PrivateKey
	token    string
}

func newGCSStore(g GCS, d httpDoer, now func() time.Time) (*gcsStore, error) {
	sa, key, err := parseServiceAccount(g.KeyJSON)
	if err != nil {
		return nil, err
	}
	ep := strings.TrimSuffix(g.Endpoint, "/")
	if ep == "" {
		ep = "https://storage.googleapis.com"
	}
	return &gcsStore{http: d, now: now, endpoint: ep, sa: sa, key: key}, nil
}

// authenticate exchanges a signed JWT for an access token once per run.
func (s *gcsStore) authenticate(ctx context.Context) error {
	if s.token != "" {
		return nil
	}
	const op = "token"
	now := s.now()
	enc := base64.RawURLEncoding
	header, _ := json.Marshal(map[string]string{"alg": "RS256", "typ": "JWT", "kid": s.sa.PrivateKeyID})
	claims, _ := json.Marshal(map[string]any{
		"iss": s.sa.ClientEmail, "scope": gcsScope, "aud": s.sa.TokenURI,
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
	})
	unsigned := enc.EncodeToString(header) + "." + enc.EncodeToString(claims)
	sum := sha256.Sum256([]byte(unsigned))
	sig, err := rsa.SignPKCS1v15(rand.Reader, s.key, crypto.SHA256, sum[:])
	if err != nil {
		return &opError{Kind: kindCredentials, Op: op, Err: err}
	}
	form := url.Values{
		"grant_type": {"urn:ietf:params:oauth:grant-type:jwt-bearer"},
		"assertion":  {unsigned + "." + enc.EncodeToString(sig)},
	}
	resp, err := s.http.do(ctx, op, func(ctx context.Context) (*http.Request, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.sa.TokenURI, strings.NewReader(form.Encode()))
		if err == nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		return req, err
	})
	if err != nil {
		return err
	}
	var tok struct {
		AccessToken string `json:"access_token"`
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	_ = json.Unmarshal(resp.Body, &tok)
	if resp.Status == http.StatusOK && tok.AccessToken != "" {
		s.token = tok.AccessToken
		return nil
	}
	e := &opError{Kind: kindCredentials, Op: op, Status: resp.Status, Code: tok.Error}
	desc := strings.ToLower(tok.Description)
	if strings.Contains(desc, "iat") || strings.Contains(desc, "exp") || strings.Contains(desc, "timeframe") {
		e.Kind = kindClockSkew
	}
	if resp.Status >= 500 {
		e.Kind = kindOther
	}
	return e
}

// call sends an authenticated JSON API request and classifies failures.
func (s *gcsStore) call(ctx context.Context, op, method, rawURL string, body []byte) (response, error) {
	if err := s.authenticate(ctx); err != nil {
		return response{}, err
	}
	resp, err := s.http.do(ctx, op, func(ctx context.Context) (*http.Request, error) {
		req, err := http.NewRequestWithContext(ctx, method, rawURL, bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Authorization", "Bearer "+s.token)
		if body != nil {
			req.Header.Set("Content-Type", "text/plain")
		}
		return req, nil
	})
	if err != nil {
		return resp, err
	}
	if resp.Status/100 == 2 {
		return resp, nil
	}
	var apiErr struct {
		Error struct {
			Message string `json:"message"`
			Errors  []struct {
				Reason string `json:"reason"`
			} `json:"errors"`
		} `json:"error"`
	}
	_ = json.Unmarshal(resp.Body, &apiErr)
	e := &opError{Op: op, Status: resp.Status}
	if len(apiErr.Error.Errors) > 0 {
		e.Code = apiErr.Error.Errors[0].Reason
	}
	switch resp.Status {
	case http.StatusUnauthorized:
		e.Kind = kindCredentials
	case http.StatusForbidden:
		e.Kind = kindAccessDenied
		if strings.Contains(strings.ToLower(apiErr.Error.Message), "billing") {
			e.Detail = "billing"
		}
	case http.StatusNotFound:
		e.Kind = kindNotFound
	}
	return resp, e
}

func (s *gcsStore) objectURL(bucket, key string) string {
	return s.endpoint + "/storage/v1/b/" + url.PathEscape(bucket) + "/o/" + url.PathEscape(key)
}

func (s *gcsStore) Put(ctx context.Context, bucket, key string, body []byte) error {
	u := s.endpoint + "/upload/storage/v1/b/" + url.PathEscape(bucket) + "/o?uploadType=media&name=" + url.QueryEscape(key)
	_, err := s.call(ctx, "write", http.MethodPost, u, body)
	return err
}

func (s *gcsStore) Get(ctx context.Context, bucket, key string) ([]byte, error) {
	resp, err := s.call(ctx, "read", http.MethodGet, s.objectURL(bucket, key)+"?alt=media", nil)
	return resp.Body, err
}

func (s *gcsStore) List(ctx context.Context, bucket, prefix string) ([]string, error) {
	u := s.endpoint + "/storage/v1/b/" + url.PathEscape(bucket) + "/o?prefix=" + url.QueryEscape(prefix)
	resp, err := s.call(ctx, "list", http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	var out struct {
		Items []struct {
			Name string `json:"name"`
		} `json:"items"`
	}
	if err := json.Unmarshal(resp.Body, &out); err != nil {
		return nil, &opError{Op: "list", Err: fmt.Errorf("decode listing: %w", err)}
	}
	names := make([]string, len(out.Items))
	for i, it := range out.Items {
		names[i] = it.Name
	}
	return names, nil
}

func (s *gcsStore) Delete(ctx context.Context, bucket, key string) error {
	_, err := s.call(ctx, "delete", http.MethodDelete, s.objectURL(bucket, key), nil)
	return err
}

func (s *gcsStore) CORS(ctx context.Context, bucket string) ([]CORSRule, error) {
	u := s.endpoint + "/storage/v1/b/" + url.PathEscape(bucket) + "?fields=cors"
	resp, err := s.call(ctx, "cors", http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	var out struct {
		CORS []struct {
			Origin         []string `json:"origin"`
			Method         []string `json:"method"`
			ResponseHeader []string `json:"responseHeader"`
			MaxAgeSeconds  int      `json:"maxAgeSeconds"`
		} `json:"cors"`
	}
	if err := json.Unmarshal(resp.Body, &out); err != nil {
		return nil, &opError{Op: "cors", Err: fmt.Errorf("decode bucket: %w", err)}
	}
	rules := make([]CORSRule, len(out.CORS))
	for i, c := range out.CORS {
		rules[i] = CORSRule{Origins: c.Origin, Methods: c.Method, Headers: c.ResponseHeader, MaxAge: c.MaxAgeSeconds}
	}
	return rules, nil
}

// PublicURL uses the XML API host, where allUsers-readable objects are served
// without credentials.
func (s *gcsStore) PublicURL(bucket, key string) string {
	return s.endpoint + (&url.URL{Path: "/" + bucket + "/" + key}).EscapedPath()
}
