package buckets

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// objectStore is the little each provider implements for the checks. Every
// method makes at most one bounded HTTP call and returns an *opError.
type objectStore interface {
	Put(ctx context.Context, bucket, key string, body []byte) error
	Get(ctx context.Context, bucket, key string) ([]byte, error)
	List(ctx context.Context, bucket, prefix string) ([]string, error)
	Delete(ctx context.Context, bucket, key string) error
	// CORS returns the bucket's rules (the account's on Azure); none is not
	// an error.
	CORS(ctx context.Context, bucket string) ([]CORSRule, error)
	// PublicURL is where an anonymous client reads key.
	PublicURL(bucket, key string) string
}

// kind classifies a failed call so the result can say how to fix it.
type kind int

const (
	kindOther kind = iota
	kindCredentials
	kindClockSkew
	kindNotFound
	kindAccessDenied
	kindWrongRegion
	kindUnreachable
	kindTimeout
	kindCanceled
)

func (k kind) String() string {
	switch k {
	case kindCredentials:
		return "wrong_credentials"
	case kindClockSkew:
		return "clock_skew"
	case kindNotFound:
		return "bucket_not_found"
	case kindAccessDenied:
		return "access_denied"
	case kindWrongRegion:
		return "wrong_region"
	case kindUnreachable:
		return "unreachable"
	case kindTimeout:
		return "timeout"
	case kindCanceled:
		return "canceled"
	}
	return "unexpected"
}

// opError is a classified failure of one call. Code is the provider's error
// code and Detail a safe extra (the bucket's real region); neither carries
// credentials.
type opError struct {
	Kind   kind
	Op     string
	Status int
	Code   string
	Detail string
	Err    error
}

func (e *opError) Error() string {
	s := "buckets: " + e.Op + ": " + e.Kind.String()
	if e.Status != 0 {
		s += fmt.Sprintf(" (HTTP %d %s)", e.Status, e.Code)
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *opError) Unwrap() error { return e.Err }

// asOpError returns err as an *opError, classifying anything else as other.
func asOpError(op string, err error) *opError {
	var oe *opError
	if errors.As(err, &oe) {
		return oe
	}
	return &opError{Kind: kindOther, Op: op, Err: err}
}

// httpDoer sends requests with a deadline per call.
type httpDoer struct {
	client  *http.Client
	timeout time.Duration
}

// response is a fully read HTTP answer.
type response struct {
	Status int
	Header http.Header
	Body   []byte
}

// maxBody caps what is read from any answer; the test object is tiny.
const maxBody = 1 << 20

// do sends req (built by build with the bounded context) and reads the whole
// body within the same deadline, so a server that stalls mid-body still ends
// as a timeout.
func (d httpDoer) do(ctx context.Context, op string, build func(ctx context.Context) (*http.Request, error)) (response, error) {
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	req, err := build(ctx)
	if err != nil {
		return response{}, &opError{Kind: kindOther, Op: op, Err: err}
	}
	resp, err := d.client.Do(req)
	if err != nil {
		return response{}, &opError{Kind: networkKind(ctx, err), Op: op, Err: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return response{}, &opError{Kind: networkKind(ctx, err), Op: op, Err: err}
	}
	return response{Status: resp.StatusCode, Header: resp.Header, Body: body}, nil
}

// networkKind tells a timeout from an endpoint that cannot be reached.
func networkKind(ctx context.Context, err error) kind {
	var ne net.Error
	switch {
	case errors.Is(ctx.Err(), context.Canceled):
		return kindCanceled
	case errors.Is(err, context.DeadlineExceeded), errors.Is(ctx.Err(), context.DeadlineExceeded):
		return kindTimeout
	case errors.As(err, &ne) && ne.Timeout():
		return kindTimeout
	}
	// Refused connections, DNS failures and TLS handshake errors all mean
	// the endpoint as entered cannot be used.
	return kindUnreachable
}

// newHTTPClient returns a client that never follows redirects: S3 answers a
// wrong region with a redirect that must be reported, not followed.
func newHTTPClient() *http.Client {
	return &http.Client{
		Transport: http.DefaultTransport.(*http.Transport).Clone(),
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// getAnonymous reads a URL without credentials, for the public-read check.
func getAnonymous(ctx context.Context, d httpDoer, rawURL string) (response, error) {
	return d.do(ctx, "public_read", func(ctx context.Context) (*http.Request, error) {
		return http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	})
}
