package answers

import (
	"fmt"
	"strings"

	"github.com/carto-setup/carto-setup/internal/steps"
	"github.com/carto-setup/carto-setup/internal/wizard"
)

// SectionAdvanced is the Advanced settings; when it is absent there are
// none, the wizard's default.
const SectionAdvanced Section = "advanced"

// Advanced is the Advanced settings step: the proxy, extra CA
// certificates, the Google keys and further customer.env settings. The
// secrets are files or environment variables, never inline.
type Advanced struct {
	HTTPProxy                     string        `yaml:"http_proxy,omitempty"`
	HTTPSProxy                    string        `yaml:"https_proxy,omitempty"`
	GRPCProxy                     string        `yaml:"grpc_proxy,omitempty"`
	NoProxy                       string        `yaml:"no_proxy,omitempty"`
	ExtraCAFile                   string        `yaml:"extra_ca_file,omitempty"`
	SkipTLSVerify                 bool          `yaml:"skip_tls_verify,omitempty"`
	GoogleMapsAPIKeyFile          string        `yaml:"google_maps_api_key_file,omitempty"`
	GoogleMapsAPIKeyEnv           string        `yaml:"google_maps_api_key_env,omitempty"`
	BigQueryOAuthClientID         string        `yaml:"bigquery_oauth_client_id,omitempty"`
	BigQueryOAuthClientSecretFile string        `yaml:"bigquery_oauth_client_secret_file,omitempty"`
	BigQueryOAuthClientSecretEnv  string        `yaml:"bigquery_oauth_client_secret_env,omitempty"`
	Extra                         []AdvancedVar `yaml:"extra,omitempty"`
}

// AdvancedVar is one further customer.env setting: a plain value inline,
// or a secret one from a file or an environment variable.
type AdvancedVar struct {
	Key       string `yaml:"key"`
	Value     string `yaml:"value,omitempty"`
	ValueFile string `yaml:"value_file,omitempty"`
	ValueEnv  string `yaml:"value_env,omitempty"`
}

// advancedRefs lists the files and secrets the section refers to.
func (a *Advanced) refs() []ref {
	if a == nil {
		return nil
	}
	var rs []ref
	if a.ExtraCAFile != "" {
		rs = append(rs, ref{field: "advanced.extra_ca_file", file: a.ExtraCAFile})
	}
	secret := func(base, path, env string) {
		if path != "" || env != "" {
			rs = append(rs, ref{field: base + "_file", file: path, envField: base + "_env", env: env, secret: true})
		}
	}
	secret("advanced.google_maps_api_key", a.GoogleMapsAPIKeyFile, a.GoogleMapsAPIKeyEnv)
	secret("advanced.bigquery_oauth_client_secret", a.BigQueryOAuthClientSecretFile, a.BigQueryOAuthClientSecretEnv)
	for i, v := range a.Extra {
		secret(fmt.Sprintf("advanced.extra[%d].value", i), v.ValueFile, v.ValueEnv)
	}
	return rs
}

// check finds what the types cannot say: a further setting's value given
// more than one way.
func (a *Advanced) check(errs *Error) {
	if a == nil {
		return
	}
	for i, v := range a.Extra {
		n := 0
		for _, s := range []string{v.Value, v.ValueFile, v.ValueEnv} {
			if s != "" {
				n++
			}
		}
		if n > 1 {
			errs.add(fmt.Sprintf("advanced.extra[%d]", i), "give value, value_file or value_env, only one")
		}
	}
}

// resolveAdvanced reads the section into the step's input; read reads a
// reference. An absent section is no Advanced settings.
func resolveAdvanced(a *Advanced, read func(ref) string) *steps.AdvancedForm {
	out := &steps.AdvancedForm{}
	if a == nil {
		return out
	}
	in := wizard.AdvancedInput{
		HTTPProxy: a.HTTPProxy, HTTPSProxy: a.HTTPSProxy, GRPCProxy: a.GRPCProxy, NoProxy: a.NoProxy,
		SkipTLSVerify: a.SkipTLSVerify, BigQueryOAuthClientID: a.BigQueryOAuthClientID,
	}
	in.ExtraCAPEM = read(ref{field: "advanced.extra_ca_file", file: a.ExtraCAFile})
	in.GoogleMapsAPIKey = read(ref{field: "advanced.google_maps_api_key_file", file: a.GoogleMapsAPIKeyFile,
		envField: "advanced.google_maps_api_key_env", env: a.GoogleMapsAPIKeyEnv, secret: true})
	in.BigQueryOAuthClientSecret = read(ref{field: "advanced.bigquery_oauth_client_secret_file", file: a.BigQueryOAuthClientSecretFile,
		envField: "advanced.bigquery_oauth_client_secret_env", env: a.BigQueryOAuthClientSecretEnv, secret: true})
	for i, v := range a.Extra {
		x := wizard.AdvancedVar{Key: v.Key, Value: v.Value}
		if v.ValueFile != "" || v.ValueEnv != "" {
			base := fmt.Sprintf("advanced.extra[%d].value", i)
			x.Value = read(ref{field: base + "_file", file: v.ValueFile, envField: base + "_env", env: v.ValueEnv, secret: true})
			x.Secret = true
		}
		in.Extra = append(in.Extra, x)
	}
	out.AdvancedInput = in
	return out
}

// exportAdvanced is the section for the wizard's Advanced settings, with
// every secret (and the CA bundle) written by put and referred to by
// path; nil when nothing is set.
func exportAdvanced(a wizard.AdvancedInput, put func(name, data string) string) *Advanced {
	if a.HTTPProxy == "" && a.HTTPSProxy == "" && a.GRPCProxy == "" && a.NoProxy == "" && a.ExtraCAPEM == "" && !a.SkipTLSVerify &&
		a.GoogleMapsAPIKey == "" && a.BigQueryOAuthClientID == "" && a.BigQueryOAuthClientSecret == "" && len(a.Extra) == 0 {
		return nil
	}
	out := &Advanced{
		HTTPProxy: a.HTTPProxy, HTTPSProxy: a.HTTPSProxy, GRPCProxy: a.GRPCProxy, NoProxy: a.NoProxy,
		ExtraCAFile: put("advanced-extra-ca.pem", a.ExtraCAPEM), SkipTLSVerify: a.SkipTLSVerify,
		GoogleMapsAPIKeyFile:          put("advanced-google-maps-api-key", a.GoogleMapsAPIKey),
		BigQueryOAuthClientID:         a.BigQueryOAuthClientID,
		BigQueryOAuthClientSecretFile: put("advanced-bigquery-oauth-client-secret", a.BigQueryOAuthClientSecret),
	}
	for _, v := range a.Extra {
		x := AdvancedVar{Key: v.Key, Value: v.Value}
		if v.Secret {
			x.Value, x.ValueFile = "", put("advanced-extra-"+strings.ToLower(v.Key), v.Value)
		}
		out.Extra = append(out.Extra, x)
	}
	return out
}

// advancedFieldPath maps the Advanced step's form fields (and the
// install's "advanced."-prefixed ones) to the answers file: extra.N.key
// is advanced.extra[N].key.
func advancedFieldPath(field string) (string, bool) {
	field = strings.TrimPrefix(field, "advanced.")
	if rest, ok := strings.CutPrefix(field, wizard.AdvancedFieldExtraPrefix); ok {
		n, sub, ok := strings.Cut(rest, ".")
		if !ok {
			return "", false
		}
		return "advanced.extra[" + n + "]." + sub, true
	}
	switch field {
	case "http_proxy", "https_proxy", "grpc_proxy", "no_proxy", "skip_tls_verify", "bigquery_oauth_client_id":
		return "advanced." + field, true
	case "extra_ca_pem":
		return "advanced.extra_ca_file", true
	case "google_maps_api_key", "bigquery_oauth_client_secret":
		return "advanced." + field + "_file", true
	}
	return "", false
}
