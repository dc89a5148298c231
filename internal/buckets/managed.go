package buckets

import "github.com/carto-setup/carto-setup/internal/check"

// CartoManaged is the buckets step's result when CARTO manages the buckets:
// there is nothing to check. The wizard and `carto-setup check buckets`
// report the same result.
func CartoManaged() check.Result {
	return check.Result{Step: Step, ID: "buckets.carto_managed", Status: check.Pass, Message: "CARTO manages the buckets: nothing to set."}
}
