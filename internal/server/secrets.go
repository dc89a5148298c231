package server

import (
	"encoding/json"

	"github.com/carto-setup/carto-setup/internal/wizard"
)

// withoutSecrets returns a deep copy of st with every field of the
// wizard's secret registry blank: what a view model may be built from, so
// that no secret (today's or one added to the registry later) goes back
// into a page. st itself keeps its secrets.
func withoutSecrets(st wizard.State) wizard.State {
	var c wizard.State
	if b, err := json.Marshal(st); err != nil || json.Unmarshal(b, &c) != nil {
		return wizard.State{} // cannot happen for a State; show nothing rather than a secret
	}
	for _, f := range c.SecretFields() {
		*f.Value = ""
	}
	return c
}
