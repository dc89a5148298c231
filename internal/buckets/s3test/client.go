package s3test

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// Client calls the bucket CORS API of an S3 endpoint with SigV4-signed
// requests, path-style, the way the aws command does for an admin. It
// exists so that a test changes CORS through the protocol rather than
// behind the server's back.
type Client struct {
	Endpoint    string // e.g. http://127.0.0.1:PORT, without a path
	Credentials Credentials
	HTTP        *http.Client     // default http.DefaultClient
	Now         func() time.Time // the signing clock; default time.Now
}

// Client returns a client for the server's own URL and key; the server must
// have been started with Start.
func (s *Server) Client() *Client {
	return &Client{Endpoint: s.URL, Credentials: s.Credentials}
}

// Error is an S3 error answer.
type Error struct {
	Status  int
	Code    string
	Message string
}

func (e *Error) Error() string {
	return fmt.Sprintf("s3test: HTTP %d %s: %s", e.Status, e.Code, e.Message)
}

// PutBucketCORS replaces the bucket's CORS configuration.
func (c *Client) PutBucketCORS(ctx context.Context, bucket string, cfg CORSConfiguration) error {
	body, err := encodeCORS(cfg)
	if err != nil {
		return err
	}
	sum := md5.Sum(body)
	_, err = c.call(ctx, http.MethodPut, bucket, body, http.Header{"Content-Md5": {base64.StdEncoding.EncodeToString(sum[:])}})
	return err
}

// encodeCORS returns the XML document S3 takes and gives.
func encodeCORS(cfg CORSConfiguration) ([]byte, error) {
	cfg.XMLName = xml.Name{Space: s3NS, Local: "CORSConfiguration"}
	body, err := xml.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("s3test: encode cors: %w", err)
	}
	return body, nil
}

// BucketCORS returns the bucket's CORS configuration (GetBucketCors). A
// bucket without one gives an *Error with Code NoSuchCORSConfiguration.
func (c *Client) BucketCORS(ctx context.Context, bucket string) (CORSConfiguration, error) {
	body, err := c.call(ctx, http.MethodGet, bucket, nil, nil)
	if err != nil {
		return CORSConfiguration{}, err
	}
	var cfg CORSConfiguration
	if err := xml.Unmarshal(body, &cfg); err != nil {
		return CORSConfiguration{}, fmt.Errorf("s3test: decode cors: %w", err)
	}
	cfg.XMLName = xml.Name{}
	return cfg, nil
}

// DeleteBucketCORS removes the bucket's CORS configuration.
func (c *Client) DeleteBucketCORS(ctx context.Context, bucket string) error {
	_, err := c.call(ctx, http.MethodDelete, bucket, nil, nil)
	return err
}

// call sends one signed request to bucket?cors and returns the body of a
// 2xx answer.
func (c *Client) call(ctx context.Context, method, bucket string, body []byte, header http.Header) ([]byte, error) {
	u := strings.TrimSuffix(c.Endpoint, "/") + "/" + bucket + "?cors="
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("s3test: %s cors: %w", method, err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/xml")
	}
	sum := sha256.Sum256(body)
	hash := hex.EncodeToString(sum[:])
	req.Header.Set("X-Amz-Content-Sha256", hash)
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	creds := aws.Credentials{AccessKeyID: c.Credentials.AccessKeyID, SecretAccessKey: c.Credentials.SecretAccessKey}
	signer := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
	if err := signer.SignHTTP(ctx, creds, req, hash, "s3", c.Credentials.Region, now()); err != nil {
		return nil, fmt.Errorf("s3test: sign: %w", err)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("s3test: %s cors: %w", method, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, fmt.Errorf("s3test: %s cors: read answer: %w", method, err)
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Code    string `xml:"Code"`
			Message string `xml:"Message"`
		}
		_ = xml.Unmarshal(out, &e)
		return nil, &Error{Status: resp.StatusCode, Code: e.Code, Message: e.Message}
	}
	return out, nil
}
