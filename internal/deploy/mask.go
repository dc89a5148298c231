package deploy

import (
	"github.com/carto-setup/carto-setup/internal/redact"
	"github.com/carto-setup/carto-setup/internal/wizard"
)

// planSecrets returns what an install masks by exact value: every secret
// field of the wizard's registry (the key files bring their private keys
// along, see redact.New) and the values of the secret-looking keys of the
// customer.env and .env it writes, which include the package's own
// internal secrets.
func planSecrets(st wizard.State, envFiles ...[]byte) []redact.Secret {
	var out []redact.Secret
	for _, f := range st.SecretFields() {
		out = append(out, redact.Secret{What: f.What, Value: *f.Value})
	}
	for _, env := range envFiles {
		out = append(out, redact.EnvSecrets(env)...)
	}
	return out
}
