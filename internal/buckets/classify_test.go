package buckets

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"syscall"
	"testing"
)

func TestClassifyS3(t *testing.T) {
	tests := []struct {
		name   string
		status int
		header http.Header
		body   string
		want   kind
		detail string
	}{
		{"unknown key", 403, nil, "<Error><Code>InvalidAccessKeyId</Code></Error>", kindCredentials, ""},
		{"bad secret", 403, nil, "<Error><Code>SignatureDoesNotMatch</Code></Error>", kindCredentials, ""},
		{"skew", 403, nil, "<Error><Code>RequestTimeTooSkewed</Code></Error>", kindClockSkew, ""},
		{"no bucket", 404, nil, "<Error><Code>NoSuchBucket</Code></Error>", kindNotFound, ""},
		{"denied", 403, nil, "<Error><Code>AccessDenied</Code></Error>", kindAccessDenied, ""},
		{"region in body", 400, nil, "<Error><Code>AuthorizationHeaderMalformed</Code><Region>eu-central-1</Region></Error>", kindWrongRegion, "eu-central-1"},
		{"redirect with header", 301, http.Header{"X-Amz-Bucket-Region": {"ap-south-1"}}, "<Error><Code>PermanentRedirect</Code></Error>", kindWrongRegion, "ap-south-1"},
		{"bare 301", 301, nil, "", kindWrongRegion, ""},
		{"bare 403", 403, nil, "", kindAccessDenied, ""},
		{"server error", 500, nil, "<Error><Code>InternalError</Code></Error>", kindOther, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			oe := asOpError("x", classifyS3("write", response{Status: tt.status, Header: tt.header, Body: []byte(tt.body)}))
			if oe.Kind != tt.want || oe.Detail != tt.detail {
				t.Errorf("got %s/%q, want %s/%q", oe.Kind, oe.Detail, tt.want, tt.detail)
			}
		})
	}
}

func TestClassifyAzure(t *testing.T) {
	tests := []struct {
		name   string
		status int
		code   string
		body   string
		want   kind
	}{
		{"wrong key", 403, "AuthenticationFailed", "<Error><Code>AuthenticationFailed</Code><AuthenticationErrorDetail>The MAC signature found in the HTTP request 'x' is not the same as any computed signature.</AuthenticationErrorDetail></Error>", kindCredentials},
		{"skew", 403, "AuthenticationFailed", "<Error><Code>AuthenticationFailed</Code><AuthenticationErrorDetail>Request date header too old: 'Mon, 01 Jan 2024 00:00:00 GMT'</AuthenticationErrorDetail></Error>", kindClockSkew},
		{"code only in body", 404, "", "<Error><Code>ContainerNotFound</Code></Error>", kindNotFound},
		{"firewall", 403, "AuthorizationFailure", "", kindAccessDenied},
		{"bare 403", 403, "", "", kindAccessDenied},
		{"server busy", 503, "ServerBusy", "", kindOther},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			if tt.code != "" {
				h.Set("x-ms-error-code", tt.code)
			}
			oe := asOpError("x", classifyAzure("write", response{Status: tt.status, Header: h, Body: []byte(tt.body)}))
			if oe.Kind != tt.want {
				t.Errorf("got %s, want %s", oe.Kind, tt.want)
			}
		})
	}
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func TestNetworkKind(t *testing.T) {
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name string
		ctx  context.Context
		err  error
		want kind
	}{
		{"deadline", context.Background(), context.DeadlineExceeded, kindTimeout},
		{"net timeout", context.Background(), &net.OpError{Op: "read", Err: timeoutErr{}}, kindTimeout},
		{"refused", context.Background(), &net.OpError{Op: "dial", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}, kindUnreachable},
		{"dns", context.Background(), &net.DNSError{Err: "no such host", Name: "acct.blob.core.windows.net", IsNotFound: true}, kindUnreachable},
		{"canceled", canceled, errors.New("context canceled"), kindCanceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := networkKind(tt.ctx, tt.err); got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}

func TestS3URL(t *testing.T) {
	tests := []struct {
		name        string
		cfg         S3
		bucket, key string
		query       string
		want        string
	}{
		{"aws virtual host", S3{Region: "eu-west-1"}, "carto-imports", "a/b.txt", "", "https://carto-imports.s3.eu-west-1.amazonaws.com/a/b.txt"},
		{"aws dotted bucket uses path", S3{Region: "eu-west-1"}, "carto.imports", "a.txt", "", "https://s3.eu-west-1.amazonaws.com/carto.imports/a.txt"},
		{"aws bucket listing", S3{Region: "us-east-1"}, "carto-imports", "", "cors=", "https://carto-imports.s3.us-east-1.amazonaws.com/?cors="},
		{"compatible virtual host", S3{Endpoint: "https://s3.example.com"}, "b1", "k", "", "https://b1.s3.example.com/k"},
		{"compatible forced path", S3{Endpoint: "https://s3.example.com/", ForcePathStyle: true}, "b1", "", "list-type=2", "https://s3.example.com/b1?list-type=2"},
		{"ip endpoint forces path", S3{Endpoint: "http://10.0.0.5:9000"}, "b1", "k", "", "http://10.0.0.5:9000/b1/k"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := newS3Store(tt.cfg, httpDoer{}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := s.url(tt.bucket, tt.key, tt.query); got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}
