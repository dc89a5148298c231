package release

import (
	"embed"
	"fmt"
)

//go:embed testdata/realistic
var realistic embed.FS

// The two versions of the realistic customer package: a package CARTO
// would have sent for an install of 2026.8 (the oldest the embedded
// release accepts, its MIN_VERSION), and the newer one it sends
// later (a new package version, a rotated internal key, a variable added,
// a default dropped).
const (
	RealisticOldVersion = "2026.8.1"
	RealisticNewVersion = "2026.8.11"
	RealisticTenantID   = "onp-realistic"
)

// RealisticCustomerEnv returns the realistic customer package's
// customer.env of version (RealisticOldVersion or RealisticNewVersion):
// written by us in the shape of CARTO's (blocks of comments, the external
// database and cache blocks commented out, commented-out alternatives for
// TLS, the proxy, optional features and custom buckets), with every
// variable docker-compose.yml and env.tpl read from customer.env, fixed
// fake secrets, and SELFHOSTED_DOMAIN=carto3-onprem.lan. Tests use it
// where the minimal SampleCustomerEnv would hide what real packages do to
// a generator.
func RealisticCustomerEnv(version string) ([]byte, error) {
	b, err := realistic.ReadFile("testdata/realistic/customer-" + version + ".env")
	if err != nil {
		return nil, fmt.Errorf("release: no realistic customer package %q", version)
	}
	return b, nil
}
