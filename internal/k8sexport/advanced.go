package k8sexport

import (
	"net/url"
	"strconv"
	"strings"
)

// Extra variables with a place of their own in the chart and in KOTS.
const (
	envBigQueryClientID = "BIGQUERY_OAUTH2_CLIENT_ID"
	envBigQuerySecret   = "BIGQUERY_OAUTH2_CLIENT_SECRET"
	envBigQueryOAuth    = "REACT_APP_BIGQUERY_OAUTH"
)

// dedicated are extra variables that an answer of its own already carries.
var dedicated = map[string]string{
	"HTTP_PROXY": "proxy", "http_proxy": "proxy", "HTTPS_PROXY": "proxy", "https_proxy": "proxy",
	"NO_PROXY": "proxy", "no_proxy": "proxy",
	"NODE_EXTRA_CA_CERTS":           "CA bundle",
	"GOOGLE_MAPS_API_KEY":           "Google Maps API key",
	"REACT_APP_GOOGLE_MAPS_API_KEY": "Google Maps API key",
}

// proxyURL returns u without credentials, as the chart and the installer
// take it.
func proxyURL(u *url.URL) string {
	c := *u
	c.User = nil
	return c.String()
}

func (b *builder) proxy() {
	httpU, _ := parseProxy(b.adv.HTTPProxy) // validated
	httpsU, _ := parseProxy(b.adv.HTTPSProxy)
	if httpU == nil && httpsU == nil {
		if strings.TrimSpace(b.adv.NoProxy) != "" {
			b.lose(FlavourBoth, "proxy.no_proxy", "not exported: no proxy is set, so there is nothing to exclude from it.")
		}
		return
	}
	for _, p := range []struct {
		answer string
		u      *url.URL
	}{{"proxy.http_proxy", httpU}, {"proxy.https_proxy", httpsU}} {
		if p.u != nil && p.u.User != nil {
			b.lose(FlavourBoth, p.answer,
				"the proxy user name and password are dropped: CARTO does not support proxy authentication.")
		}
	}
	// Most of CARTO's egress is HTTPS, so its proxy wins when both are set.
	chosen, answer := httpsU, "proxy.https_proxy"
	if chosen == nil {
		chosen, answer = httpU, "proxy.http_proxy"
	}
	port := chosen.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[chosen.Scheme]
	}
	portNum, _ := strconv.Atoi(port) // url.Parse accepts only digits here
	b.val(answer, "externalProxy.enabled", true)
	b.val(answer, "externalProxy.type", chosen.Scheme)
	b.val(answer, "externalProxy.host", chosen.Hostname())
	b.val(answer, "externalProxy.port", portNum)
	if httpU != nil && httpsU != nil && proxyURL(httpU) != proxyURL(httpsU) {
		b.lose(FlavourHelm, "proxy.http_proxy",
			"HTTP_PROXY and HTTPS_PROXY name different proxies; the chart takes one (externalProxy), so HTTPS_PROXY was "+
				"exported and HTTP_PROXY dropped.")
	}
	var flags []string
	if httpU != nil {
		flags = append(flags, "--http-proxy "+shellQuote(proxyURL(httpU)))
		b.kotsNote("proxy.http_proxy", "installer flag --http-proxy")
	}
	if httpsU != nil {
		flags = append(flags, "--https-proxy "+shellQuote(proxyURL(httpsU)))
		b.kotsNote("proxy.https_proxy", "installer flag --https-proxy")
	}
	if excluded := splitList(b.adv.NoProxy); len(excluded) > 0 {
		b.val("proxy.no_proxy", "externalProxy.excludedDomains", excluded)
		flags = append(flags, "--no-proxy "+shellQuote(strings.Join(excluded, ",")))
		b.kotsNote("proxy.no_proxy", "installer flag --no-proxy")
	}
	b.kv(answer, "externalProxyEnabled", "1")
	b.lose(FlavourKOTS, answer,
		"KOTS reads the proxy from its installer, not from ConfigValues (the proxy host and excluded domains are "+
			"read-only items filled by the installer). Add to the installer's command line:\n\n%s", codeBlock("sh", strings.Join(flags, " ")))
}

// splitList splits NO_PROXY as Go and curl do: on commas, blanks dropped.
func splitList(s string) []string {
	var out []string
	for _, x := range strings.Split(s, ",") {
		if x = strings.TrimSpace(x); x != "" {
			out = append(out, x)
		}
	}
	return out
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:,@=+") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func (b *builder) caBundle() {
	if b.adv.CABundlePEM == "" {
		return
	}
	b.val("ca_bundle", "trustedCACerts.value", b.adv.CABundlePEM)
	b.lose(FlavourKOTS, "ca_bundle",
		"KOTS takes extra trusted CAs from its installer, not from ConfigValues (the CA item is read-only and filled "+
			"by the installer): give the bundle to the installer's private CA option.")
}

func (b *builder) maps() {
	if b.adv.GoogleMapsAPIKey == "" {
		return
	}
	b.appSecret("google_maps_api_key", "googleMapsApiKey", "google-maps-api-key", b.adv.GoogleMapsAPIKey)
	b.kv("google_maps_api_key", "googleBasemapsEnabled", "1")
	b.kv("google_maps_api_key", "googleMapsAPIKey", b.adv.GoogleMapsAPIKey)
}

func (b *builder) extraEnv() {
	hasClientID := false
	for _, e := range b.adv.ExtraEnv {
		if e.Name == envBigQueryClientID && e.Value != "" {
			hasClientID = true
		}
	}
	for _, e := range b.adv.ExtraEnv {
		answer := "extra_env." + e.Name
		switch {
		case dedicated[e.Name] != "":
			b.lose(FlavourBoth, answer, "not exported: the %s answer is what carries over; this extra variable of the same name is ignored.", dedicated[e.Name])
		case e.Name == envBigQueryClientID:
			b.val(answer, "appConfigValues.bigqueryOauth2ClientId", e.Value)
			b.kv(answer, "bigqueryOauthEnabled", "1")
			b.kv(answer, "bigqueryOauthClientID", e.Value)
		case e.Name == envBigQuerySecret && !hasClientID:
			b.lose(FlavourBoth, answer, "not exported: without %s the client secret is not used.", envBigQueryClientID)
		case e.Name == envBigQuerySecret:
			b.appSecret(answer, "bigqueryOauth2ClientSecret", "bigquery-oauth2-client-secret", e.Value)
			b.kpw(answer, "bigqueryOauthClientSecret", e.Value)
		case e.Name == envBigQueryOAuth && hasClientID:
			b.helmNote(answer, "implied by "+envBigQueryClientID)
			b.kotsNote(answer, "implied by bigqueryOauthEnabled")
		case isBucketVar(e.Name):
			b.bucketVar(e)
		default:
			b.lose(FlavourBoth, answer,
				"no chart value or KOTS item takes it: with Helm it is only reachable through the extraEnvVars list of "+
					"each component that reads it (for example workspaceApi.extraEnvVars, entries {name, value}); KOTS has "+
					"no equivalent. Not exported, since its value may be a secret.")
		}
	}
}
