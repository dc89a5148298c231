package custpkg

import (
	"bytes"
	"strings"
	"testing"

	"github.com/carto-setup/carto-setup/internal/check"
)

// TestOverridable holds every package result to the rule: a failure
// cannot be overridden (install.sh or CARTO would stop on it), a check that
// could not run or a warning can.
func TestOverridable(t *testing.T) {
	key := keyJSON(t, nil)
	var all []check.Result
	add := func(rs []check.Result) { all = append(all, rs...) }
	for _, f := range []struct {
		env string
		key []byte
		rel Release
	}{
		{goodEnv + "NOT A VALID LINE\n", key, rel},
		{strings.Replace(goodEnv, "ACC_DOMAIN=accounts.carto.com\n", "", 1), key, rel},
		{goodEnv, key, Release{Version: "2026.4.24", MinVersion: "2026.5.1"}},
		{goodEnv, key, Release{}},
		{goodEnv, []byte("{not json"), rel},
		{goodEnv, keyJSON(t, func(m map[string]any) { m["project_id"] = "my-own-project" }), rel},
	} {
		rs, _ := Validate(Files{CustomerEnv: []byte(f.env), KeyJSON: f.key}, f.rel)
		add(rs)
	}
	_, rs, _ := ValidateFiles(nil, key, rel)
	add(rs)
	z := []byte("PK\x03\x04 broken")
	_, rs, _ = ValidateZip(bytes.NewReader(z), int64(len(z)), rel)
	add(rs)

	seen := map[check.Status]bool{}
	for _, r := range all {
		seen[r.Status] = true
		if r.Fixed != (r.Status == check.Fail) {
			t.Errorf("%s %s (%s): fixed=%v", r.ID, r.Status, r.Message, r.Fixed)
		}
	}
	for _, s := range []check.Status{check.Pass, check.Warn, check.Fail, check.Error} {
		if !seen[s] {
			t.Errorf("no %s result among the cases: the table does not cover it", s)
		}
	}
}
