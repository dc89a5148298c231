package bundle

import (
	"encoding/json"
	"fmt"

	"github.com/carto-setup/carto-setup/internal/wizard"
)

// StateSecrets returns every secret the admin entered, named, including the
// private keys inside the service-account key files.
func StateSecrets(st wizard.State) []Secret {
	out := []Secret{
		{"key.json", st.Package.KeyJSON},
		{"database admin password", st.Database.AdminPassword},
		{"database workspace password", st.Database.WorkspacePassword},
		{"cache password", st.Cache.Password},
		{"router certificate private key", st.TLS.KeyPEM},
		{"ACME account key", st.TLS.ACMEAccount},
		{"bucket service-account key", st.Buckets.GCSKeyJSON},
		{"S3 secret access key", st.Buckets.S3SecretAccessKey},
		{"Azure storage access key", st.Buckets.AzureAccessKey},
	}
	for _, k := range []struct{ what, doc string }{
		{"key.json", st.Package.KeyJSON},
		{"bucket service-account key", st.Buckets.GCSKeyJSON},
	} {
		var key struct {
			PrivateKey   string `json:"private_key"`
			PrivateKeyID string `json:"private_key_id"`
		}
		if json.Unmarshal([]byte(k.doc), &key) == nil {
			out = append(out, Secret{k.what + " private key", key.PrivateKey}, Secret{k.what + " private key ID", key.PrivateKeyID})
		}
	}
	var nonEmpty []Secret
	for _, s := range out {
		if s.Value != "" {
			nonEmpty = append(nonEmpty, s)
		}
	}
	return nonEmpty
}

// StateJSON returns the wizard state for the bundle, with the uploaded
// customer.env left out (the bundle carries the installed one). Its secret
// fields are masked by Build, by exact value, so the redaction report
// counts them; a secret too short for that is masked here already.
func StateJSON(st wizard.State) ([]byte, error) {
	mask := func(s *string) {
		if *s != "" && len(*s) < minSecret {
			*s = Mask
		}
	}
	mask(&st.Package.KeyJSON)
	mask(&st.Database.AdminPassword)
	mask(&st.Database.WorkspacePassword)
	mask(&st.Cache.Password)
	mask(&st.TLS.KeyPEM)
	mask(&st.TLS.ACMEAccount)
	mask(&st.Buckets.GCSKeyJSON)
	mask(&st.Buckets.S3SecretAccessKey)
	mask(&st.Buckets.AzureAccessKey)
	if st.Package.CustomerEnv != "" {
		st.Package.CustomerEnv = "(left out: see release/customer.env)"
	}
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("bundle: state: %w", err)
	}
	return b, nil
}
