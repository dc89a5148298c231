package bundle

import (
	"encoding/json"
	"fmt"

	"github.com/carto-setup/carto-setup/internal/wizard"
)

// StateSecrets returns every secret the admin entered, named as the
// wizard's registry names it. Service-account keys bring their private key
// and key ID along (redact.New reads them out of the JSON).
func StateSecrets(st wizard.State) []Secret {
	var out []Secret
	for _, f := range st.SecretFields() {
		if *f.Value != "" {
			out = append(out, Secret{What: f.What, Value: *f.Value})
		}
	}
	return out
}

// StateJSON returns the wizard state for the bundle, with the uploaded
// customer.env left out (the bundle carries the installed one). Its secret
// fields stay in: Build masks them by exact value, whatever their length,
// so that the redaction report counts them.
func StateJSON(st wizard.State) ([]byte, error) {
	if st.Package.CustomerEnv != "" {
		st.Package.CustomerEnv = "(left out: see release/customer.env)"
	}
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("bundle: state: %w", err)
	}
	return b, nil
}
