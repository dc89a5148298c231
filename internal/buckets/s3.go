package buckets

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// s3Store talks to the S3 REST API with SigV4-signed requests.
type s3Store struct {
	http      httpDoer
	now       func() time.Time
	creds     aws.Credentials
	region    string
	base      *url.URL
	pathStyle bool
	signer    *v4.Signer
}

func newS3Store(c S3, d httpDoer, now func() time.Time) (*s3Store, error) {
	region := c.Region
	if region == "" {
		region = "us-east-1"
	}
	raw := strings.TrimSuffix(c.Endpoint, "/")
	pathStyle := c.ForcePathStyle
	if raw == "" {
		raw = "https://s3." + region + ".amazonaws.com"
	}
	base, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("s3: parse endpoint: %w", err)
	}
	if net.ParseIP(base.Hostname()) != nil || base.Hostname() == "localhost" {
		// A bucket cannot become a subdomain of an IP address.
		pathStyle = true
	}
	return &s3Store{
		http: d, now: now, region: region, base: base, pathStyle: pathStyle,
		creds: aws.Credentials{AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey},
		signer: v4.NewSigner(func(o *v4.SignerOptions) {
			// S3 signs the path as sent; it must not be escaped twice.
			o.DisableURIPathEscaping = true
		}),
	}, nil
}

// url addresses key in bucket, virtual-hosted unless path style is needed
// (forced, an IP endpoint, or a bucket name with dots under TLS).
func (s *s3Store) url(bucket, key, query string) string {
	u := *s.base
	path := "/" + key
	if s.pathStyle || strings.Contains(bucket, ".") {
		path = "/" + bucket + "/" + key
		if key == "" {
			path = "/" + bucket
		}
	} else {
		u.Host = bucket + "." + u.Host
	}
	u.Path = path
	u.RawPath = ""
	u.RawQuery = query
	return u.String()
}

func (s *s3Store) call(ctx context.Context, op, method, rawURL string, body []byte, sign bool) (response, error) {
	resp, err := s.http.do(ctx, op, func(ctx context.Context) (*http.Request, error) {
		req, err := http.NewRequestWithContext(ctx, method, rawURL, bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		if !sign {
			return req, nil
		}
		sum := sha256.Sum256(body)
		hash := hex.EncodeToString(sum[:])
		req.Header.Set("X-Amz-Content-Sha256", hash)
		if err := s.signer.SignHTTP(ctx, s.creds, req, hash, "s3", s.region, s.now()); err != nil {
			return nil, fmt.Errorf("sign request: %w", err)
		}
		return req, nil
	})
	if err != nil {
		return resp, err
	}
	if resp.Status/100 == 2 {
		return resp, nil
	}
	return resp, classifyS3(op, resp)
}

// classifyS3 maps an S3 error answer to a kind using its error code.
func classifyS3(op string, resp response) error {
	var x struct {
		Code    string `xml:"Code"`
		Message string `xml:"Message"`
		Region  string `xml:"Region"`
	}
	_ = xml.Unmarshal(resp.Body, &x)
	e := &opError{Op: op, Status: resp.Status, Code: x.Code}
	region := resp.Header.Get("X-Amz-Bucket-Region")
	if region == "" {
		region = x.Region
	}
	switch x.Code {
	case "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "TokenRefreshRequired":
		e.Kind = kindCredentials
	case "RequestTimeTooSkewed", "RequestExpired":
		e.Kind = kindClockSkew
	case "NoSuchBucket":
		e.Kind = kindNotFound
	case "AccessDenied", "AllAccessDisabled", "AccountProblem", "AccessControlListNotSupported":
		e.Kind = kindAccessDenied
	case "PermanentRedirect", "AuthorizationHeaderMalformed", "IllegalLocationConstraintException", "TemporaryRedirect":
		e.Kind = kindWrongRegion
		e.Detail = region
	default:
		switch {
		case resp.Status == http.StatusMovedPermanently || resp.Status == http.StatusTemporaryRedirect:
			e.Kind = kindWrongRegion
			e.Detail = region
		case resp.Status == http.StatusForbidden:
			e.Kind = kindAccessDenied
		case resp.Status == http.StatusNotFound:
			e.Kind = kindNotFound
		}
	}
	return e
}

func (s *s3Store) Put(ctx context.Context, bucket, key string, body []byte) error {
	_, err := s.call(ctx, "write", http.MethodPut, s.url(bucket, key, ""), body, true)
	return err
}

func (s *s3Store) Get(ctx context.Context, bucket, key string) ([]byte, error) {
	resp, err := s.call(ctx, "read", http.MethodGet, s.url(bucket, key, ""), nil, true)
	return resp.Body, err
}

func (s *s3Store) List(ctx context.Context, bucket, prefix string) ([]string, error) {
	q := url.Values{"list-type": {"2"}, "prefix": {prefix}}
	resp, err := s.call(ctx, "list", http.MethodGet, s.url(bucket, "", q.Encode()), nil, true)
	if err != nil {
		return nil, err
	}
	var out struct {
		Contents []struct {
			Key string `xml:"Key"`
		} `xml:"Contents"`
	}
	if err := xml.Unmarshal(resp.Body, &out); err != nil {
		return nil, &opError{Op: "list", Err: fmt.Errorf("decode listing: %w", err)}
	}
	names := make([]string, len(out.Contents))
	for i, c := range out.Contents {
		names[i] = c.Key
	}
	return names, nil
}

func (s *s3Store) Delete(ctx context.Context, bucket, key string) error {
	_, err := s.call(ctx, "delete", http.MethodDelete, s.url(bucket, key, ""), nil, true)
	return err
}

func (s *s3Store) CORS(ctx context.Context, bucket string) ([]CORSRule, error) {
	resp, err := s.call(ctx, "cors", http.MethodGet, s.url(bucket, "", "cors="), nil, true)
	if err != nil {
		if oe := asOpError("cors", err); oe.Code == "NoSuchCORSConfiguration" {
			return nil, nil
		}
		return nil, err
	}
	var out struct {
		Rules []struct {
			Origins []string `xml:"AllowedOrigin"`
			Methods []string `xml:"AllowedMethod"`
			Headers []string `xml:"AllowedHeader"`
			MaxAge  int      `xml:"MaxAgeSeconds"`
		} `xml:"CORSRule"`
	}
	if err := xml.Unmarshal(resp.Body, &out); err != nil {
		return nil, &opError{Op: "cors", Err: fmt.Errorf("decode cors: %w", err)}
	}
	rules := make([]CORSRule, len(out.Rules))
	for i, r := range out.Rules {
		rules[i] = CORSRule{Origins: r.Origins, Methods: r.Methods, Headers: r.Headers, MaxAge: r.MaxAge}
	}
	return rules, nil
}

func (s *s3Store) PublicURL(bucket, key string) string { return s.url(bucket, key, "") }
