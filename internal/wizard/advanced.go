package wizard

import (
	"crypto/x509"
	"encoding/pem"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/carto-setup/carto-setup/internal/envfile"
)

// AdvancedInput is the Advanced settings step: every other setting CARTO
// documents for customer.env (carto-facts §3.6), so that no admin needs to
// edit the file by hand. An empty field leaves the key to the package (or
// to a hand edit).
type AdvancedInput struct {
	// The outbound proxy, written in both cases (HTTP_PROXY and
	// http_proxy, ...). CARTO supports no proxy authentication.
	HTTPProxy  string `json:"http_proxy,omitempty"`
	HTTPSProxy string `json:"https_proxy,omitempty"`
	GRPCProxy  string `json:"grpc_proxy,omitempty"`
	NoProxy    string `json:"no_proxy,omitempty"` // comma-separated hosts, .domains, IPs and CIDRs

	// ExtraCAPEM is a bundle of CA certificates the services trust on top
	// of the public ones (a TLS-inspecting proxy, a private CA); it is
	// placed in certs/ and named by NODE_EXTRA_CA_CERTS.
	ExtraCAPEM string `json:"extra_ca_pem,omitempty"`
	// SkipTLSVerify sets NODE_TLS_REJECT_UNAUTHORIZED=0: the services
	// accept any certificate. For a proxy whose CA cannot be had only.
	SkipTLSVerify bool `json:"skip_tls_verify,omitempty"`

	GoogleMapsAPIKey string `json:"google_maps_api_key,omitempty" secret:"Google Maps API key"`

	// BigQuery OAuth ("Sign in with Google" connections): the OAuth
	// client of the customer's Google project.
	BigQueryOAuthClientID     string `json:"bigquery_oauth_client_id,omitempty"`
	BigQueryOAuthClientSecret string `json:"bigquery_oauth_client_secret,omitempty" secret:"BigQuery OAuth client secret"`

	// Extra are further customer.env settings, with the same quoting
	// rules as every other value.
	Extra []AdvancedVar `json:"extra,omitempty"`
}

// AdvancedVar is one free customer.env setting.
type AdvancedVar struct {
	Key    string `json:"key"`
	Value  string `json:"value" secret:"advanced setting value,if=Secret"` // secret when Secret is set
	Secret bool   `json:"secret,omitempty"`
}

// The customer.env keys the Advanced step writes (carto-facts §3.6).
const (
	KeyNodeExtraCACerts       = "NODE_EXTRA_CA_CERTS"
	KeyNodeTLSRejectUnauth    = "NODE_TLS_REJECT_UNAUTHORIZED"
	KeyGoogleMapsAPIKey       = "GOOGLE_MAPS_API_KEY"
	KeyBigQueryOAuthClientID  = "BIGQUERY_OAUTH2_CLIENT_ID"
	KeyBigQueryOAuthSecret    = "BIGQUERY_OAUTH2_CLIENT_SECRET"
	KeyReactAppBigQueryOAuth  = "REACT_APP_BIGQUERY_OAUTH"
	AdvancedFieldExtraPrefix  = "extra."
	advancedFieldExtraKeySufx = ".key"
	advancedFieldExtraValSufx = ".value"
	maxAdvancedExtra          = 100
	maxAdvancedCABundle       = 1 << 20
)

// ProxyKeys returns the proxy variables as CARTO's services read them, each
// in both cases, with the values of a.
func (a AdvancedInput) ProxyKeys() [][2]string {
	var out [][2]string
	for _, p := range []struct{ key, value string }{
		{"HTTP_PROXY", a.HTTPProxy}, {"HTTPS_PROXY", a.HTTPSProxy},
		{"GRPC_PROXY", a.GRPCProxy}, {"NO_PROXY", a.NoProxy},
	} {
		out = append(out, [2]string{p.key, p.value}, [2]string{strings.ToLower(p.key), p.value})
	}
	return out
}

// ExtraField names the form field of the i-th free setting's key or value.
func ExtraField(i int, value bool) string {
	if value {
		return AdvancedFieldExtraPrefix + strconv.Itoa(i) + advancedFieldExtraValSufx
	}
	return AdvancedFieldExtraPrefix + strconv.Itoa(i) + advancedFieldExtraKeySufx
}

// Secrets returns the secret values of a that are set.
func (a AdvancedInput) Secrets() []string {
	var out []string
	for _, s := range []string{a.GoogleMapsAPIKey, a.BigQueryOAuthClientSecret} {
		if s != "" {
			out = append(out, s)
		}
	}
	for _, v := range a.Extra {
		if v.Secret && v.Value != "" {
			out = append(out, v.Value)
		}
	}
	return out
}

var (
	keyRE       = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	apiKeyRE    = regexp.MustCompile(`^[A-Za-z0-9_-]{20,100}$`)
	oauthIDRE   = regexp.MustCompile(`^[0-9]+-[a-z0-9]+\.apps\.googleusercontent\.com$`)
	noProxyItem = regexp.MustCompile(`^\*?\.?[A-Za-z0-9.:_\[\]/-]+$`)
)

// Validate checks every field: proxies are http:// or https:// URLs of a
// host and port without credentials or path, NO_PROXY a comma-separated
// list without spaces, the CA bundle PEM certificates that are CAs, the
// Google keys in their published shapes, the OAuth client id and secret
// both given or both empty, and every free setting a shell variable name
// given once, not one the Advanced fields already write, with a value
// that customer.env can carry (envfile.Quote). Field names are the JSON
// names, and ExtraField(i, ...) for the free settings.
func (a AdvancedInput) Validate() FieldErrors {
	errs := FieldErrors{}
	for _, p := range []struct{ field, value string }{
		{"http_proxy", a.HTTPProxy}, {"https_proxy", a.HTTPSProxy}, {"grpc_proxy", a.GRPCProxy},
	} {
		if msg := proxyProblem(p.value); msg != "" {
			errs.Add(p.field, msg)
		}
	}
	if a.NoProxy != "" {
		for _, item := range strings.Split(a.NoProxy, ",") {
			if !noProxyItem.MatchString(item) {
				errs.Add("no_proxy", "List hosts, .domains, IP addresses or CIDR ranges separated by commas, without spaces (e.g. localhost,127.0.0.1,.internal.example.com).")
				break
			}
		}
	}
	if msg := caBundleProblem(a.ExtraCAPEM); msg != "" {
		errs.Add("extra_ca_pem", msg)
	}
	if a.GoogleMapsAPIKey != "" && !apiKeyRE.MatchString(a.GoogleMapsAPIKey) {
		errs.Add("google_maps_api_key", "A Google Maps API key is 20 to 100 letters, digits, - and _ (e.g. AIza...); paste it without spaces or quotes.")
	}
	switch {
	case a.BigQueryOAuthClientID != "" && !oauthIDRE.MatchString(a.BigQueryOAuthClientID):
		errs.Add("bigquery_oauth_client_id", "A Google OAuth client ID looks like 123456789012-abc123.apps.googleusercontent.com.")
	case a.BigQueryOAuthClientID != "" && a.BigQueryOAuthClientSecret == "":
		errs.Add("bigquery_oauth_client_secret", "Enter the client secret of the OAuth client as well.")
	case a.BigQueryOAuthClientID == "" && a.BigQueryOAuthClientSecret != "":
		errs.Add("bigquery_oauth_client_id", "Enter the client ID of the OAuth client as well.")
	}
	if a.BigQueryOAuthClientSecret != "" {
		if _, err := envfile.Quote(a.BigQueryOAuthClientSecret); err != nil {
			errs.Add("bigquery_oauth_client_secret", "This value cannot be written to customer.env: "+err.Error()+".")
		}
	}
	if len(a.Extra) > maxAdvancedExtra {
		errs.Add(ExtraField(maxAdvancedExtra, false), "At most "+strconv.Itoa(maxAdvancedExtra)+" further settings.")
	}
	own := map[string]bool{}
	for _, kv := range a.ProxyKeys() {
		own[kv[0]] = true
	}
	for _, k := range []string{KeyNodeExtraCACerts, KeyNodeTLSRejectUnauth, KeyGoogleMapsAPIKey,
		KeyBigQueryOAuthClientID, KeyBigQueryOAuthSecret, KeyReactAppBigQueryOAuth} {
		own[k] = true
	}
	seen := map[string]bool{}
	for i, v := range a.Extra {
		kf, vf := ExtraField(i, false), ExtraField(i, true)
		switch {
		case !keyRE.MatchString(v.Key):
			errs.Add(kf, "A key is letters, digits and _, and does not start with a digit.")
		case own[v.Key]:
			errs.Add(kf, v.Key+" has its own field in this step; set it there.")
		case seen[v.Key]:
			errs.Add(kf, v.Key+" is listed twice.")
		}
		seen[v.Key] = true
		if _, err := envfile.Quote(v.Value); err != nil {
			errs.Add(vf, "This value cannot be written to customer.env: "+err.Error()+".")
		}
	}
	return errs
}

// proxyProblem says what is wrong with a proxy URL, or "".
func proxyProblem(v string) string {
	if v == "" {
		return ""
	}
	u, err := url.Parse(v)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		return "Enter the proxy as http://host:port or https://host:port."
	case u.User != nil:
		return "CARTO does not support proxy authentication: remove the user and password."
	case u.Path != "" && u.Path != "/" || u.RawQuery != "" || u.Fragment != "":
		return "A proxy URL has no path: enter only http://host:port."
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return "The proxy port must be between 1 and 65535."
		}
	}
	if strings.ContainsAny(u.Hostname(), " '\"$`\\") || (net.ParseIP(u.Hostname()) == nil && strings.Contains(u.Hostname(), ":")) {
		return "The proxy host is not a host name or IP address."
	}
	return ""
}

// caBundleProblem says what is wrong with a CA bundle, or "".
func caBundleProblem(bundle string) string {
	if strings.TrimSpace(bundle) == "" {
		return ""
	}
	if len(bundle) > maxAdvancedCABundle {
		return "The CA bundle is larger than 1 MiB."
	}
	rest := []byte(bundle)
	n := 0
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			return "The bundle holds a " + b.Type + " block: paste only CA certificates (-----BEGIN CERTIFICATE-----), never a private key."
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return "Certificate " + strconv.Itoa(n+1) + " of the bundle cannot be read: " + err.Error() + "."
		}
		if !c.IsCA {
			return "Certificate " + strconv.Itoa(n+1) + " of the bundle (" + c.Subject.CommonName + ") is not a CA certificate."
		}
		n++
	}
	if n == 0 || strings.TrimSpace(string(rest)) != "" {
		return "Paste the CA certificates in PEM form (-----BEGIN CERTIFICATE----- ... -----END CERTIFICATE-----)."
	}
	return ""
}
