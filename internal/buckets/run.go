package buckets

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/carto-setup/carto-setup/internal/check"
)

// Step is the check.Result step of every result this package returns.
const Step = "buckets"

// callTimeout bounds each network call, including reading the answer.
const callTimeout = 10 * time.Second

// testPrefix is where test objects go, so an admin who finds one left
// behind knows where it came from.
const testPrefix = "carto-setup-check/"

// runner holds what Run needs from the outside, so tests can shorten the
// timeout and move the clock.
type runner struct {
	client  *http.Client
	timeout time.Duration
	now     func() time.Time
}

// Run checks both buckets with cfg's credentials: for each, it writes a
// uniquely named test object, reads it back, lists it, reads it anonymously
// when the bucket is public, deletes it, and compares the bucket's CORS
// rules with what CARTO needs. Each network call is bounded to 10 seconds.
// An invalid cfg yields one failed "buckets.input" result per field.
func Run(ctx context.Context, cfg Config) []check.Result {
	return runner{client: newHTTPClient(), timeout: callTimeout, now: time.Now}.run(ctx, cfg)
}

// target is one of the two buckets under test.
type target struct {
	which string // "imports" or "thumbnails"
	field string
	Bucket
}

func (r runner) run(ctx context.Context, cfg Config) []check.Result {
	if errs := Validate(cfg); len(errs) > 0 {
		var out []check.Result
		for _, f := range sortedKeys(errs) {
			out = append(out, check.Result{Step: Step, ID: "buckets.input", Status: check.Fail,
				Message: errs[f], Field: f, Required: "valid input", Fixed: true})
		}
		return out
	}
	d := httpDoer{client: r.client, timeout: r.timeout}
	store, err := newStore(cfg, d, r.now)
	if err != nil {
		// The settings themselves are unusable (say, a key that does not
		// parse): CARTO could not use them either.
		return []check.Result{{Step: Step, ID: "buckets.input", Status: check.Error, Fixed: true,
			Message: "the bucket settings could not be used: " + err.Error()}}
	}
	key := testPrefix + r.now().UTC().Format("20060102T150405Z") + "-" + randomHex(6) + ".txt"
	body := []byte("carto-setup bucket check " + key + "\n")
	p := probe{cfg: cfg, store: store, http: d, key: key, body: body}

	targets := []target{
		{"imports", FieldImports, cfg.Imports},
		{"thumbnails", FieldThumbnails, cfg.Thumbnails},
	}
	// The first write tells whether the credentials and the endpoint work at
	// all; if not, every later call would fail the same way, so stop there.
	firstErr := store.Put(ctx, targets[0].Name, key, body)
	if first := p.gate(firstErr); first != nil {
		return []check.Result{*first}
	}
	var out []check.Result
	accepted := false
	for i, t := range targets {
		written := firstErr
		if i > 0 {
			written = store.Put(ctx, t.Name, key, body)
		}
		// Only a success or an access-denied answer proves the provider
		// authenticated the request; a wrong region or a missing bucket
		// can be answered before the signature is checked.
		if written == nil || asOpError("write", written).Kind == kindAccessDenied {
			accepted = true
		}
		out = append(out, p.bucket(ctx, t, written)...)
	}
	if accepted {
		out = append([]check.Result{p.credentialsOK()}, out...)
	}
	return out
}

// newStore returns cfg's provider client.
func newStore(cfg Config, d httpDoer, now func() time.Time) (objectStore, error) {
	switch cfg.Provider {
	case ProviderGCS:
		return newGCSStore(cfg.GCS, d, now)
	case ProviderS3:
		return newS3Store(cfg.S3, d, now)
	case ProviderAzure:
		return newAzureStore(cfg.Azure, d, now)
	}
	return nil, fmt.Errorf("buckets: unknown provider %q", cfg.Provider)
}

// probe runs the per-bucket checks and words their results.
type probe struct {
	cfg   Config
	store objectStore
	http  httpDoer
	key   string
	body  []byte
}

// gate turns a first-call failure that concerns every bucket (credentials,
// clock, endpoint) into the one result to show, or returns nil.
func (p probe) gate(err error) *check.Result {
	if err == nil {
		return nil
	}
	oe := asOpError("write", err)
	switch oe.Kind {
	case kindCredentials, kindClockSkew:
		res := p.failure("buckets.credentials", target{}, oe)
		return &res
	case kindUnreachable, kindTimeout, kindCanceled:
		res := p.failure("buckets.endpoint", target{}, oe)
		return &res
	}
	if oe.Op == "token" {
		// Without a token no call can be made (GCS).
		res := p.failure("buckets.credentials", target{}, oe)
		return &res
	}
	return nil
}

func (p probe) credentialsOK() check.Result {
	return check.Result{Step: Step, ID: "buckets.credentials", Status: check.Pass,
		Measured: "accepted", Required: "accepted by " + providerName(p.cfg.Provider),
		Message: "The " + providerName(p.cfg.Provider) + " credentials were accepted."}
}

// bucket checks one bucket whose test write already returned written.
func (p probe) bucket(ctx context.Context, t target, written error) []check.Result {
	id := "buckets." + t.which + "."
	var out []check.Result
	if written != nil {
		out = append(out, p.failure(id+"write", t, asOpError("write", written)))
		// Nothing was written, so read, list and delete cannot run; CORS can.
		return append(out, p.cors(ctx, t))
	}
	out = append(out, p.pass(id+"write", t, "Wrote test object %s to %s."))

	got, err := p.store.Get(ctx, t.Name, p.key)
	switch {
	case err != nil:
		out = append(out, p.failure(id+"read", t, asOpError("read", err)))
	case !bytes.Equal(got, p.body):
		out = append(out, check.Result{Step: Step, ID: id + "read", Status: check.Fail, Field: t.field,
			Measured: fmt.Sprintf("%d bytes, different content", len(got)), Required: fmt.Sprintf("the %d bytes written", len(p.body)),
			Message: "The test object read back from " + t.Name + " differs from what was written.",
			Hint:    "Check for a proxy or a bucket policy that rewrites objects (for example forced compression or encryption by a gateway)."})
	default:
		out = append(out, p.pass(id+"read", t, "Read test object %s back from %s."))
	}

	names, err := p.store.List(ctx, t.Name, testPrefix)
	switch {
	case err != nil:
		out = append(out, p.failure(id+"list", t, asOpError("list", err)))
	case !slices.Contains(names, p.key):
		out = append(out, check.Result{Step: Step, ID: id + "list", Status: check.Fail, Field: t.field,
			Measured: fmt.Sprintf("%d objects listed, test object absent", len(names)), Required: "test object listed",
			Message: "Listing " + t.Name + " did not show the test object that was just written."})
	default:
		out = append(out, p.pass(id+"list", t, "Listed %s in %s."))
	}

	out = append(out, p.publicRead(ctx, t)...)

	if err := p.store.Delete(ctx, t.Name, p.key); err != nil {
		res := p.failure(id+"delete", t, asOpError("delete", err))
		res.Message += " The test object " + p.key + " is still in the bucket; delete it by hand."
		out = append(out, res)
	} else {
		out = append(out, p.pass(id+"delete", t, "Deleted %s from %s."))
	}
	return append(out, p.cors(ctx, t))
}

func (p probe) pass(id string, t target, format string) check.Result {
	return check.Result{Step: Step, ID: id, Status: check.Pass, Field: t.field,
		Measured: "ok", Required: "ok", Message: fmt.Sprintf(format, p.key, t.Name)}
}

// publicRead reads the test object without credentials when the bucket is
// meant to be public. A private thumbnails bucket is a warning: CARTO then
// cannot show branding and custom markers (carto-facts 8 #8).
func (p probe) publicRead(ctx context.Context, t target) []check.Result {
	id := "buckets." + t.which + ".public_read"
	if !t.Public {
		if t.which != "thumbnails" {
			return nil
		}
		return []check.Result{{Step: Step, ID: id, Status: check.Warn, Field: t.field,
			Measured: "private", Required: "public",
			Message: "The thumbnails bucket is set as private: map thumbnails still work, but branding and custom markers will not.",
			Hint:    "Allow public reads on " + t.Name + " and mark it public, unless your policy forbids public objects."}}
	}
	u := p.store.PublicURL(t.Name, p.key)
	resp, err := getAnonymous(ctx, p.http, u)
	if err != nil {
		return []check.Result{p.failure(id, t, asOpError("public_read", err))}
	}
	if resp.Status == http.StatusOK && bytes.Equal(resp.Body, p.body) {
		return []check.Result{{Step: Step, ID: id, Status: check.Pass, Field: t.field,
			Measured: "HTTP 200", Required: "HTTP 200 without credentials",
			Message: "The test object in " + t.Name + " is readable without credentials at " + u + "."}}
	}
	return []check.Result{{Step: Step, ID: id, Status: check.Fail, Field: t.field,
		Measured: fmt.Sprintf("HTTP %d", resp.Status), Required: "HTTP 200 without credentials",
		Message: "The " + t.which + " bucket is marked public, but " + u + " could not be read without credentials.",
		Hint:    publicHint(p.cfg, t.Name)}}
}

func publicHint(cfg Config, bucket string) string {
	switch cfg.Provider {
	case ProviderGCS:
		return "Grant read to everyone: gsutil iam ch allUsers:objectViewer gs://" + bucket + " (public access prevention must be off). Or untick public; branding and custom markers then stop working."
	case ProviderS3:
		return "Turn off Block Public Access for " + bucket + " and allow public objects (a bucket policy granting s3:GetObject to \"*\" on arn:aws:s3:::" + bucket + "/*, and ACLs enabled), with no SSE-KMS encryption. Or untick public; branding and custom markers then stop working."
	case ProviderAzure:
		return "Allow blob public access on the storage account and run: az storage container set-permission --name " + bucket + " --public-access blob --account-name " + cfg.Azure.StorageAccount + ". Or untick public; branding and custom markers then stop working."
	}
	return ""
}

// cors compares the bucket's (Azure: the account's) CORS rules with CARTO's.
func (p probe) cors(ctx context.Context, t target) check.Result {
	id := "buckets." + t.which + ".cors"
	want := requiredCORS(p.cfg.Provider)
	where, fixFor := "bucket "+t.Name, t.Name
	if p.cfg.Provider == ProviderAzure {
		where, fixFor = "storage account "+p.cfg.Azure.StorageAccount, p.cfg.Azure.StorageAccount
	}
	fix := CORSFix(p.cfg.Provider, fixFor)
	rules, err := p.store.CORS(ctx, t.Name)
	if err != nil {
		oe := asOpError("cors", err)
		res := p.failure(id, t, oe)
		if oe.Kind == kindAccessDenied {
			res.Status = check.Warn
			res.Message = "The credentials may not read the CORS configuration of " + where + ", so it could not be checked. CARTO needs the rule below."
			res.Hint = fix
		}
		return res
	}
	required := describeRule(want)
	gap := compareCORS(rules, want)
	if gap.empty() {
		return check.Result{Step: Step, ID: id, Status: check.Pass, Field: t.field,
			Measured: describeRules(rules), Required: required,
			Message: "The CORS configuration of " + where + " allows what CARTO needs."}
	}
	return check.Result{Step: Step, ID: id, Status: check.Fail, Field: t.field,
		Measured: describeRules(rules), Required: required,
		Message: corsMessage(where, rules, gap),
		Hint:    fix}
}

func corsMessage(where string, rules []CORSRule, gap corsGap) string {
	const effect = " Browser uploads and thumbnails fail without it."
	if len(rules) == 0 {
		return "The " + where + " has no CORS rules." + effect
	}
	return "The CORS configuration of " + where + " lacks " + gap.String() + "." + effect
}

func describeRule(r CORSRule) string {
	return fmt.Sprintf("origins %s; methods %s; headers %s; max age %d",
		strings.Join(r.Origins, " "), strings.Join(r.Methods, " "), strings.Join(r.Headers, " "), r.MaxAge)
}

func describeRules(rules []CORSRule) string {
	if len(rules) == 0 {
		return "no CORS rules"
	}
	parts := make([]string, len(rules))
	for i, r := range rules {
		parts[i] = "[" + describeRule(r) + "]"
	}
	return strings.Join(parts, " ")
}

// failure words a classified error as a result with a fix.
func (p probe) failure(id string, t target, oe *opError) check.Result {
	prov := providerName(p.cfg.Provider)
	res := check.Result{Step: Step, ID: id, Status: check.Fail, Field: t.field,
		Measured: oe.Kind.String(), Required: "success"}
	if oe.Status != 0 {
		res.Measured += " (" + strings.TrimSpace(fmt.Sprintf("HTTP %d %s", oe.Status, oe.Code)) + ")"
	}
	what := "bucket " + t.Name
	if t.Name == "" {
		what = "the storage"
	}
	switch oe.Kind {
	case kindCredentials:
		// CARTO would present the same credentials: no override.
		res.Fixed = true
		res.Field = p.credentialField(oe)
		res.Message = prov + " rejected the credentials."
		res.Hint = credentialsHint(p.cfg.Provider)
	case kindClockSkew:
		res.Field = ""
		res.Message = prov + " rejected the request because this machine's clock is off."
		res.Hint = "Synchronise the clock (timedatectl set-ntp true, or install chrony) and test again; CARTO's services share this clock."
	case kindNotFound:
		res.Message = "The " + t.which + " " + noun(p.cfg.Provider) + " " + t.Name + " does not exist."
		res.Hint = "Check the name and create it (in the region CARTO runs near) before continuing."
		if p.cfg.Provider == ProviderAzure {
			res.Hint = "Check the name and create it: az storage container create --name " + t.Name + " --account-name " + p.cfg.Azure.StorageAccount
		}
	case kindAccessDenied:
		res.Message = "The credentials may not " + opVerb(oe.Op) + " " + what + "."
		res.Hint = deniedHint(p.cfg, t.Name)
		if oe.Detail == "billing" {
			res.Hint = "The project's billing is disabled or the bucket is requester-pays; enable billing for the project."
		}
	case kindWrongRegion:
		res.Field = FieldS3Region
		res.Message = "Bucket " + t.Name + " is not in region " + p.cfg.S3.Region + "."
		if oe.Detail != "" {
			res.Message = "Bucket " + t.Name + " is in region " + oe.Detail + ", not " + p.cfg.S3.Region + "."
		}
		res.Hint = "Set the region to the bucket's region; CARTO uses one region for both buckets."
	case kindUnreachable:
		res.Field = p.endpointField()
		res.Message = "The " + prov + " endpoint could not be reached from this machine."
		res.Hint = "Check DNS, the firewall and any outbound proxy for " + p.endpointHost() + "."
		if p.cfg.Provider == ProviderAzure && p.cfg.Azure.Endpoint == "" {
			res.Message += " A storage account that does not exist has no address either."
			res.Hint = "Check the storage account name, then DNS and the firewall for " + p.endpointHost() + "."
		}
	case kindTimeout:
		res.Status = check.Error
		res.Field = p.endpointField()
		res.Message = fmt.Sprintf("%s did not answer within %s when asked to %s %s.", prov, p.http.timeout, opVerb(oe.Op), what)
		res.Hint = "Check the firewall and any outbound proxy for " + p.endpointHost() + "; a dropped connection looks like this."
	case kindCanceled:
		res.Status = check.Error
		res.Message = "The check was canceled."
	default:
		res.Status = check.Error
		res.Message = "Could not " + opVerb(oe.Op) + " " + what + ": unexpected answer from " + prov + "."
		res.Hint = "Test again; if it persists, check the provider's status page."
	}
	return res
}

func (p probe) credentialField(oe *opError) string {
	switch p.cfg.Provider {
	case ProviderGCS:
		return FieldGCSKey
	case ProviderS3:
		if oe.Code == "SignatureDoesNotMatch" {
			return FieldS3Secret
		}
		return FieldS3KeyID
	case ProviderAzure:
		return FieldAzKey
	}
	return ""
}

func (p probe) endpointField() string {
	switch p.cfg.Provider {
	case ProviderS3:
		if p.cfg.S3.Endpoint != "" {
			return FieldS3Endpoint
		}
	case ProviderAzure:
		if p.cfg.Azure.Endpoint == "" {
			return FieldAzAccount
		}
		return FieldAzEndpoint
	case ProviderGCS:
		if p.cfg.GCS.Endpoint != "" {
			return FieldGCSEndpt
		}
	}
	return ""
}

func (p probe) endpointHost() string {
	switch p.cfg.Provider {
	case ProviderS3:
		if p.cfg.S3.Endpoint != "" {
			return p.cfg.S3.Endpoint
		}
		return "s3." + p.cfg.S3.Region + ".amazonaws.com"
	case ProviderAzure:
		if p.cfg.Azure.Endpoint != "" {
			return p.cfg.Azure.Endpoint
		}
		return p.cfg.Azure.StorageAccount + ".blob.core.windows.net"
	}
	if p.cfg.GCS.Endpoint != "" {
		return p.cfg.GCS.Endpoint
	}
	return "storage.googleapis.com and oauth2.googleapis.com"
}

func credentialsHint(provider string) string {
	switch provider {
	case ProviderGCS:
		return "The key may have been deleted or the service account disabled; create a new JSON key in IAM > Service Accounts > Keys and upload it."
	case ProviderS3:
		return "Check the access key ID and secret (IAM > Users > Security credentials); an inactive or deleted key is rejected the same way."
	case ProviderAzure:
		return "Copy key1 or key2 again from the storage account's Access keys page; a rotated key is rejected."
	}
	return ""
}

func deniedHint(cfg Config, bucket string) string {
	switch cfg.Provider {
	case ProviderGCS:
		sa, _, _ := parseServiceAccount(cfg.GCS.KeyJSON)
		return "Grant the service account read/write on the bucket: gsutil iam ch serviceAccount:" + sa.ClientEmail + ":roles/storage.objectAdmin gs://" + bucket +
			" (reading CORS also needs storage.buckets.get, e.g. roles/storage.legacyBucketReader)."
	case ProviderS3:
		return "Allow the IAM user s3:PutObject, s3:GetObject, s3:DeleteObject on arn:aws:s3:::" + bucket + "/* and s3:ListBucket, s3:GetBucketCORS on arn:aws:s3:::" + bucket +
			" (plus kms:Encrypt, kms:Decrypt, kms:GenerateDataKey if the bucket uses SSE-KMS)."
	case ProviderAzure:
		return "An account key has full access, so the storage account's firewall is likely blocking this machine: allow its public IP under Networking, or allow shared-key access on the account."
	}
	return ""
}

func opVerb(op string) string {
	switch op {
	case "write":
		return "write objects to"
	case "read":
		return "read objects from"
	case "list":
		return "list objects in"
	case "delete":
		return "delete objects from"
	case "cors":
		return "read the CORS configuration of"
	case "public_read":
		return "read anonymously from"
	case "token":
		return "get an access token for"
	}
	return op
}

func providerName(p string) string {
	switch p {
	case ProviderGCS:
		return "Google Cloud Storage"
	case ProviderS3:
		return "S3"
	case ProviderAzure:
		return "Azure Blob Storage"
	}
	return p
}

func noun(provider string) string {
	if provider == ProviderAzure {
		return "container"
	}
	return "bucket"
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
