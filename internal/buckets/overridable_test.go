package buckets

import (
	"testing"
	"time"

	"github.com/carto-setup/carto-setup/internal/check"
)

// TestOverridable is the buckets step's overridability table: every
// failure kind through the classifier that words it. Only rejected
// credentials (which CARTO would present the same way) and unusable input
// are fixed; a missing bucket, denied access, a wrong region, clock skew
// and the network can change without new input, so they take a reason.
func TestOverridable(t *testing.T) {
	t.Parallel()
	kinds := []struct {
		kind  kind
		fixed bool
	}{
		{kindOther, false},
		{kindCredentials, true},
		{kindClockSkew, false},
		{kindNotFound, false},
		{kindAccessDenied, false},
		{kindWrongRegion, false},
		{kindUnreachable, false},
		{kindTimeout, false},
		{kindCanceled, false},
	}
	p := probe{cfg: Config{Provider: ProviderS3, S3: S3{Region: "eu-west-1"}}, http: httpDoer{timeout: time.Second}}
	for _, tt := range kinds {
		r := p.failure("buckets.imports.write", target{which: "imports", field: FieldImports, Bucket: Bucket{Name: "b"}}, &opError{Kind: tt.kind, Op: "write"})
		if r.Fixed != tt.fixed || (r.Fixed && r.Status != check.Fail) {
			t.Errorf("%s: %s fixed=%v, want fixed=%v", tt.kind, r.Status, r.Fixed, tt.fixed)
		}
	}
	for _, r := range Run(t.Context(), Config{Provider: ProviderS3}) {
		if r.ID != "buckets.input" || !r.Fixed {
			t.Errorf("invalid input: %s fixed=%v (%s), want a fixed buckets.input", r.ID, r.Fixed, r.Message)
		}
	}
}

// TestOverridableLive holds the SigV4-checking S3 server to the table: a
// wrong secret cannot be overridden, a missing bucket can.
func TestOverridableLive(t *testing.T) {
	t.Parallel()
	f, endpoint := startS3(t, "carto-imports", "carto-thumbnails")
	cfg := func(secret, thumbnails string) Config {
		return Config{Provider: ProviderS3, Imports: Bucket{Name: "carto-imports"}, Thumbnails: Bucket{Name: thumbnails},
			S3: S3{Region: f.Credentials.Region, AccessKeyID: f.Credentials.AccessKeyID, SecretAccessKey: secret, Endpoint: endpoint, ForcePathStyle: true}}
	}
	got := byID(t, runWith(t, testRunner(5*time.Second, nil), cfg("not-the-secret", "carto-thumbnails")))
	if r := got["buckets.credentials"]; r.Status != check.Fail || !r.Fixed {
		t.Errorf("wrong secret: %s fixed=%v, want a fixed failure", r.Status, r.Fixed)
	}
	got = byID(t, runWith(t, testRunner(5*time.Second, nil), cfg(f.Credentials.SecretAccessKey, "no-such-bucket")))
	if r := got["buckets.thumbnails.write"]; r.Status != check.Fail || r.Fixed {
		t.Errorf("missing bucket: %s fixed=%v, want an overridable failure", r.Status, r.Fixed)
	}
	if r := got["buckets.credentials"]; r.Status != check.Pass {
		t.Errorf("credentials with a missing bucket: %s", r.Status)
	}
}
