package s3test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"
)

// unsignedPayload is the X-Amz-Content-Sha256 value of a request whose body
// is not part of the signature.
const unsignedPayload = "UNSIGNED-PAYLOAD"

// verify checks a header-signed SigV4 request, written from AWS's
// "Signature Version 4 signing process" independently of the signer the
// product uses, so that a signing mistake fails the tests. It returns the
// HTTP status, the S3 error code and extra XML for the error document, or
// an empty code. Presigned URLs and streaming (chunked) payloads are not
// supported.
func (s *Server) verify(r *http.Request, body []byte) (int, string, string) {
	auth := r.Header.Get("Authorization")
	const algo = "AWS4-HMAC-SHA256 "
	if !strings.HasPrefix(auth, algo) {
		return http.StatusBadRequest, "InvalidArgument", ""
	}
	fields := map[string]string{}
	for _, part := range strings.Split(strings.TrimPrefix(auth, algo), ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		fields[k] = v
	}
	scope := strings.Split(fields["Credential"], "/") // key/date/region/service/aws4_request
	if len(scope) != 5 || scope[3] != "s3" || scope[4] != "aws4_request" || fields["SignedHeaders"] == "" || fields["Signature"] == "" {
		return http.StatusBadRequest, "AuthorizationHeaderMalformed", ""
	}
	if scope[0] != s.Credentials.AccessKeyID {
		return http.StatusForbidden, "InvalidAccessKeyId", ""
	}
	if scope[2] != s.Credentials.Region {
		return http.StatusBadRequest, "AuthorizationHeaderMalformed", "<Region>" + s.Credentials.Region + "</Region>"
	}
	amzDate := r.Header.Get("X-Amz-Date")
	t, err := time.Parse("20060102T150405Z", amzDate)
	if err != nil || scope[1] != amzDate[:8] {
		return http.StatusForbidden, "AccessDenied", ""
	}
	if d := s.now().Sub(t); d > 15*time.Minute || d < -15*time.Minute {
		return http.StatusForbidden, "RequestTimeTooSkewed", ""
	}
	payload := r.Header.Get("X-Amz-Content-Sha256")
	sum := sha256.Sum256(body)
	switch {
	case payload == "":
		return http.StatusBadRequest, "InvalidRequest", ""
	case payload == unsignedPayload:
	case strings.HasPrefix(payload, "STREAMING-"):
		return http.StatusNotImplemented, "NotImplemented", ""
	case payload != hex.EncodeToString(sum[:]):
		return http.StatusBadRequest, "XAmzContentSHA256Mismatch", ""
	}

	var canonHeaders strings.Builder
	for _, h := range strings.Split(fields["SignedHeaders"], ";") {
		v := strings.Join(r.Header.Values(h), ",")
		if h == "host" {
			v = r.Host
		}
		canonHeaders.WriteString(h + ":" + strings.Join(strings.Fields(v), " ") + "\n")
	}
	canonical := strings.Join([]string{
		r.Method,
		awsEscape(r.URL.Path, false),
		canonicalQuery(r.URL.RawQuery),
		canonHeaders.String(),
		fields["SignedHeaders"],
		payload,
	}, "\n")
	crSum := sha256.Sum256([]byte(canonical))
	toSign := "AWS4-HMAC-SHA256\n" + amzDate + "\n" + strings.Join(scope[1:], "/") + "\n" + hex.EncodeToString(crSum[:])
	k := []byte("AWS4" + s.Credentials.SecretAccessKey)
	for _, part := range scope[1:] {
		k = hmacSHA256(k, part)
	}
	if !hmac.Equal([]byte(hex.EncodeToString(hmacSHA256(k, toSign))), []byte(fields["Signature"])) {
		return http.StatusForbidden, "SignatureDoesNotMatch", ""
	}
	return 0, "", ""
}

func hmacSHA256(key []byte, s string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(s))
	return m.Sum(nil)
}

// awsEscape percent-encodes everything but the unreserved characters (and
// "/" in paths), with upper-case hex, as SigV4 requires.
func awsEscape(s string, encodeSlash bool) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '_', c == '.', c == '~':
			b.WriteByte(c)
		case c == '/' && !encodeSlash:
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// canonicalQuery sorts the encoded name=value pairs of a query string.
func canonicalQuery(raw string) string {
	q, _ := url.ParseQuery(raw)
	var pairs []string
	for k, vs := range q {
		for _, v := range vs {
			pairs = append(pairs, awsEscape(k, true)+"="+awsEscape(v, true))
		}
	}
	sort.Strings(pairs)
	return strings.Join(pairs, "&")
}
