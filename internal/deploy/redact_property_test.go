package deploy

import (
	"errors"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/carto-setup/carto-setup/internal/envfile"
	"github.com/carto-setup/carto-setup/internal/redact"
	"github.com/carto-setup/carto-setup/internal/redact/redacttest"
	"github.com/carto-setup/carto-setup/internal/wizard"
)

// TestPropertyInstallOutputsShowNoSecret gives every registered secret of
// the wizard, and secrets of the customer package under secret-looking keys
// (*PASSWD*, KEY: value), random hostile values, plans the install, and
// looks for them in every output of the install engine: the review diff
// and the plan's checks (the review page), the refusal message when a
// value cannot be written, and the job log, into which the test writes
// every planned file (as a tool echoing its configuration would) and the
// secrets in every carrier shape, cut at random points.
func TestPropertyInstallOutputsShowNoSecret(t *testing.T) {
	t.Parallel()
	const cases = 1200 // each with 13 secrets: about 15,000 secret values
	seed := rand.Uint64()
	g := redacttest.New(seed)
	dir := newRelease(t)
	planned, refused := 0, 0
	for c := range cases {
		st := baseState(t)
		switch g.Intn(3) {
		case 1:
			externalDB(&st)
		case 2:
			externalDB(&st)
			st.Cache = wizard.CacheInput{Mode: wizard.ModeExternal, Host: "redis.example.com", Port: 6380}
		}
		switch g.Intn(4) {
		case 1:
			st.Buckets = wizard.BucketsInput{Mode: wizard.BucketsS3, Imports: wizard.BucketInput{Name: "imp"},
				Thumbnails: wizard.BucketInput{Name: "thu", Public: true}, S3Region: "eu-west-1", S3AccessKeyID: "AKIAFIXTURE0123"}
		case 2:
			st.Buckets = wizard.BucketsInput{Mode: wizard.BucketsGCS, Imports: wizard.BucketInput{Name: "imp"},
				Thumbnails: wizard.BucketInput{Name: "thu", Public: true}}
		case 3:
			st.Buckets = wizard.BucketsInput{Mode: wizard.BucketsAzure, Imports: wizard.BucketInput{Name: "imp"},
				Thumbnails: wizard.BucketInput{Name: "thu", Public: true}, AzureStorageAccount: "acct"}
		}
		secrets := g.FillState(&st)
		// The package's own secrets, under names the old rules missed.
		for _, key := range []string{"LEGACY_DB_PASSWD", "PURGE_SECRET", "AZURE_CREDENTIAL", "API_TOKEN"} {
			v := g.Password()
			q, err := envfile.Quote(v)
			if err != nil {
				continue
			}
			sep := "="
			if g.Intn(2) == 0 {
				sep = ": "
			}
			st.Package.CustomerEnv += key + sep + q + "\n"
			secrets = append(secrets, v)
		}

		p, err := NewPlan(st, dir)
		var re *RefusedError
		if errors.As(err, &re) {
			refused++
			if leaked := redacttest.Shown(err.Error(), secrets); leaked != nil {
				t.Fatalf("seed %d case %d: the refusal shows %q: %v", seed, c, leaked, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("seed %d case %d: %v", seed, c, err)
		}
		planned++

		var review strings.Builder
		for _, l := range p.Diff() {
			review.WriteString(l.String() + "\n")
		}
		for _, r := range p.Checks() {
			review.WriteString(r.Message + " " + r.Measured + " " + r.Hint + "\n")
		}
		if leaked := redacttest.Shown(review.String(), secrets); leaked != nil {
			t.Fatalf("seed %d case %d: the review shows %q:\n%s", seed, c, leaked, review.String())
		}

		var job strings.Builder
		w := redact.NewLineWriter(&job, p.Masker())
		var feed []string
		for _, f := range p.files {
			feed = append(feed, string(f.data))
		}
		for _, s := range secrets {
			feed = append(feed, strings.Join(g.SomeCarriers(s, 4), "\n")+"\n")
		}
		all := strings.Join(feed, "")
		for i := 0; i < len(all); {
			n := 1 + g.Intn(200)
			w.Write([]byte(all[i:min(i+n, len(all))]))
			i += n
		}
		w.Flush()
		if leaked := redacttest.Shown(job.String(), secrets); leaked != nil {
			t.Fatalf("seed %d case %d: the job log shows %q:\n%s", seed, c, leaked, job.String())
		}
	}
	if planned < cases/2 {
		t.Errorf("only %d of %d cases planned (%d refused): the test hardly reaches the outputs", planned, cases, refused)
	}
	t.Logf("seed %d: %d cases, %d planned, %d refused (values no quoting can carry), 0 leaks", seed, cases, planned, refused)
}
