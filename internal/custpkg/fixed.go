package custpkg

import "github.com/carto-setup/carto-setup/internal/check"

// fixFailures marks every failed package check as one no override can get
// past: a package that cannot be read, lacks a required variable, has an
// unusable key.json or is older than the release's MIN_VERSION stops
// install.sh or CARTO's services whatever the reason typed. A check that
// could not run (an unknown MIN_VERSION) stays overridable.
func fixFailures(results []check.Result) []check.Result {
	for i := range results {
		results[i].Fixed = results[i].Status == check.Fail
	}
	return results
}
