package deploy

import (
	"maps"
	"slices"
	"strings"

	"github.com/carto-setup/carto-setup/internal/check"
	"github.com/carto-setup/carto-setup/internal/envfile"
	"github.com/carto-setup/carto-setup/internal/installsh"
	"github.com/carto-setup/carto-setup/internal/wizard"
)

// ValueChecks runs, on the wizard's answers alone, the rules by which the
// install writes them into customer.env: a value no quoting carries safely
// (a line break, ${...}, ' or \ together with $, ...) and a further
// Advanced setting that names a key another step writes. `check` runs them
// so that it fails on exactly the values `apply` refuses, with the same
// check IDs and the wizard field in Result.Field. It needs no release
// directory: it writes into st's customer package when there is one, else
// into an empty customer.env. Only failures are returned; what the answers
// leave out (no domain yet, no password for the embedded database) is the
// steps' and the install's business, not a value rule.
func ValueChecks(st wizard.State) []check.Result {
	pkg, _ := envfile.NormalizeNewlines([]byte(st.Package.CustomerEnv))
	pkg = installsh.RenamePostgresPassword(pkg)
	orig, err := envfile.Parse(pkg)
	if err != nil {
		pkg = nil // the package step names a package that does not parse
		orig, _ = envfile.Parse(nil)
	}
	work, _ := envfile.Parse(pkg)
	ed := &editor{f: work, orig: orig, src: pkg}
	ed.run(st)
	var out []check.Result
	for _, r := range ed.results {
		if strings.HasPrefix(r.ID, "install.customer_env.") || strings.HasPrefix(r.ID, "install.advanced.") {
			out = append(out, r)
		}
	}
	return out
}

// StepKeys returns the customer.env keys the wizard's other steps write,
// whatever the answers: the domain, both database and cache blocks, the
// router certificate keys, and every bucket variable of every provider. A
// further Advanced setting may not name one: the install refuses it
// (ValueChecks says so first), since it would silently undo a step.
func StepKeys() []string {
	keys := slices.Concat([]string{"SELFHOSTED_DOMAIN"}, databaseKeys, cacheKeys, routerKeys)
	for _, p := range []string{wizard.BucketsGCS, wizard.BucketsS3, wizard.BucketsAzure} {
		b := wizard.BucketsInput{Mode: p, S3Endpoint: "https://s3.example.com"}
		keys = slices.AppendSeq(keys, maps.Keys(bucketEnv(b, "")))
	}
	keys = append(keys, "IMPORT_BUCKET")
	slices.Sort(keys)
	return slices.Compact(keys)
}
