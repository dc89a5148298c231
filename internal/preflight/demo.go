package preflight

import (
	"github.com/carto-setup/carto-setup/internal/check"
)

// demoSized turns a failed CPU or memory check into a warning in demo
// mode: the stand-in release runs in a fraction of what CARTO asks for, and
// the warning keeps saying what a real install needs.
func demoSized(r check.Result) check.Result {
	if r.Status != check.Fail || r.Fixed || (r.ID != "preflight.cpu" && r.ID != "preflight.memory") {
		return r
	}
	r.Status = check.Warn
	r.Message += " The demo's stand-in release runs on much less; a real install needs " + r.Required + "."
	return r
}
