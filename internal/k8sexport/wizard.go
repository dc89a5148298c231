package k8sexport

import "github.com/carto-setup/carto-setup/internal/wizard"

// FromWizard maps the wizard's Advanced settings to what the export takes.
// The BigQuery OAuth client, the gRPC proxy, the skipped TLS verification
// and the free settings travel as extra variables, which the export maps
// where the chart or KOTS has a place and reports as lost otherwise, so
// none is dropped without a line in the report.
func FromWizard(a wizard.AdvancedInput) Advanced {
	adv := Advanced{
		HTTPProxy: a.HTTPProxy, HTTPSProxy: a.HTTPSProxy, NoProxy: a.NoProxy,
		CABundlePEM: a.ExtraCAPEM, GoogleMapsAPIKey: a.GoogleMapsAPIKey,
	}
	add := func(name, value string) {
		if value != "" {
			adv.ExtraEnv = append(adv.ExtraEnv, EnvVar{Name: name, Value: value})
		}
	}
	add(wizard.KeyBigQueryOAuthClientID, a.BigQueryOAuthClientID)
	add(wizard.KeyBigQueryOAuthSecret, a.BigQueryOAuthClientSecret)
	add("GRPC_PROXY", a.GRPCProxy)
	if a.SkipTLSVerify {
		add(wizard.KeyNodeTLSRejectUnauth, "0")
	}
	for _, v := range a.Extra {
		add(v.Key, v.Value)
	}
	return adv
}
