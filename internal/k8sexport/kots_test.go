package k8sexport

import (
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/carto-setup/carto-setup/internal/wizard"
)

// kotsItem is one config item of CARTO's KOTS application as the issue and
// CARTO's Config resource define it: its type decides the shape KOTS expects
// in ConfigValues (value, valuePlaintext, or filename plus base64 value).
type kotsItem struct {
	typ     string   // text, password, bool, file, select_one
	options []string // select_one
}

// kotsItems lists every item name the export may write. A name not here is
// a typo the real KOTS would ignore silently.
var kotsItems = map[string]kotsItem{
	"cartoSelfHostedDomain":             {typ: "text"},
	"metadataDBHost":                    {typ: "text"},
	"metadataDBPort":                    {typ: "text"},
	"metadataDBUser":                    {typ: "text"},
	"metadataDBPassword":                {typ: "password"},
	"metadataDBName":                    {typ: "text"},
	"metadataDBSSLMode":                 {typ: "bool"},
	"metadataDBSSLCertificate":          {typ: "file"},
	"TLSTerminationLayer":               {typ: "select_one", options: []string{"accessToCartoRouterHTTPS", "accessToCartoRouterHTTP"}},
	"accessToCartoCustomTLSCertFile":    {typ: "file"},
	"accessToCartoCustomTLSKeyFile":     {typ: "file"},
	"storageBucketsBehaviour":           {typ: "select_one", options: []string{"custom_gcs", "custom_aws_s3", "custom_azb"}},
	"storageBucketsGcpProjectId":        {typ: "text"},
	"storageBucketsAwsAccessKeyId":      {typ: "text"},
	"storageBucketsAwsAccessKeySecret":  {typ: "text"},
	"storageBucketsAwsS3Region":         {typ: "text"},
	"storageBucketsAzureStorageAccount": {typ: "text"},
	"storageBucketsAzureAccessKey":      {typ: "text"},
	"storageBucketsWorkspaceImports":    {typ: "text"},
	"storageBucketsThumbnails":          {typ: "text"},
	"storageBucketsThumbnailsIsPublic":  {typ: "bool"},
	"externalRedisEnabled":              {typ: "bool"},
	"externalRedisHost":                 {typ: "text"},
	"externalRedisPort":                 {typ: "text"},
	"externalRedisPassword":             {typ: "password"},
	"externalRedisTLSBehaviour":         {typ: "select_one", options: []string{"tls_disabled", "tls_enabled"}},
	"externalRedisTLSCertificate":       {typ: "file"},
	"externalProxyEnabled":              {typ: "bool"},
	"googleBasemapsEnabled":             {typ: "bool"},
	"googleMapsAPIKey":                  {typ: "text"},
	"bigqueryOauthEnabled":              {typ: "bool"},
	"bigqueryOauthClientID":             {typ: "text"},
	"bigqueryOauthClientSecret":         {typ: "password"},
}

type configValues struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Spec       struct {
		Values map[string]map[string]string `yaml:"values"`
	} `yaml:"spec"`
}

// parseKOTS reads a ConfigValues document, checks every item against
// kotsItems and returns item -> its content (a file item decoded).
func parseKOTS(t *testing.T, data []byte) map[string]string {
	t.Helper()
	out, problems, err := readKOTS(data)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Error(p)
	}
	return out
}

func readKOTS(data []byte) (map[string]string, []string, error) {
	var cv configValues
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	dec.KnownFields(true)
	if err := dec.Decode(&cv); err != nil {
		return nil, nil, fmt.Errorf("ConfigValues does not parse: %w", err)
	}
	if cv.APIVersion != "kots.io/v1beta1" || cv.Kind != "ConfigValues" {
		return nil, nil, fmt.Errorf("apiVersion/kind = %s/%s", cv.APIVersion, cv.Kind)
	}
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	out := map[string]string{}
	for name, fields := range cv.Spec.Values {
		item, ok := kotsItems[name]
		if !ok {
			bad("%s is not an item of CARTO's KOTS config", name)
			continue
		}
		keys := make([]string, 0, len(fields))
		for k := range fields {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		switch item.typ {
		case "password":
			if !slices.Equal(keys, []string{"valuePlaintext"}) {
				bad("%s: password item with fields %v, want valuePlaintext", name, keys)
			}
			out[name] = fields["valuePlaintext"]
		case "file":
			if !slices.Equal(keys, []string{"filename", "value"}) {
				bad("%s: file item with fields %v, want filename and value", name, keys)
			}
			content, err := base64.StdEncoding.DecodeString(fields["value"])
			if err != nil {
				bad("%s: file value is not base64: %v", name, err)
			}
			out[name] = string(content)
		default:
			if !slices.Equal(keys, []string{"value"}) {
				bad("%s: %s item with fields %v, want value", name, item.typ, keys)
			}
			v := fields["value"]
			if item.typ == "bool" && v != "0" && v != "1" {
				bad("%s: bool item = %q, want \"0\" or \"1\"", name, v)
			}
			if item.typ == "select_one" && !slices.Contains(item.options, v) {
				bad("%s = %q, not one of %v", name, v, item.options)
			}
			out[name] = v
		}
	}
	return out, problems, nil
}

// TestKOTSConfigValues checks each case's ConfigValues against CARTO's item
// names and types, and the values against the answers they come from.
func TestKOTSConfigValues(t *testing.T) {
	t.Parallel()
	for _, c := range exportCases(t) {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			res := c.export(t)
			got := parseKOTS(t, res.KOTS)
			want := map[string]string{
				"cartoSelfHostedDomain":          strings.TrimSpace(c.st.Domain.Domain),
				"TLSTerminationLayer":            "accessToCartoRouterHTTPS",
				"accessToCartoCustomTLSCertFile": c.st.TLS.CertPEM,
				"accessToCartoCustomTLSKeyFile":  c.st.TLS.KeyPEM,
			}
			if db := c.st.Database; db.Mode == wizard.ModeExternal {
				want["metadataDBHost"] = db.Host
				want["metadataDBUser"] = db.WorkspaceUser
				want["metadataDBPassword"] = db.WorkspacePassword
				want["metadataDBName"] = db.WorkspaceDatabase
			}
			if cache := c.st.Cache; cache.Mode == wizard.ModeExternal {
				want["externalRedisEnabled"] = "1"
				want["externalRedisHost"] = cache.Host
				if cache.Password != "" {
					want["externalRedisPassword"] = cache.Password
				}
			} else {
				want["externalRedisEnabled"] = "0"
			}
			switch bk := c.st.Buckets; bk.Mode {
			case wizard.BucketsS3:
				want["storageBucketsBehaviour"] = "custom_aws_s3"
				want["storageBucketsAwsAccessKeySecret"] = bk.S3SecretAccessKey
				want["storageBucketsWorkspaceImports"] = bk.Imports.Name
				want["storageBucketsThumbnails"] = bk.Thumbnails.Name
			case wizard.BucketsAzure:
				want["storageBucketsBehaviour"] = "custom_azb"
				want["storageBucketsAzureAccessKey"] = bk.AzureAccessKey
			case wizard.BucketsCartoManaged:
				if _, ok := got["storageBucketsBehaviour"]; ok {
					t.Error("CARTO-managed buckets exported as a KOTS storage choice")
				}
			}
			if c.adv.GoogleMapsAPIKey != "" {
				want["googleBasemapsEnabled"] = "1"
				want["googleMapsAPIKey"] = c.adv.GoogleMapsAPIKey
			}
			for item, v := range want {
				if got[item] != v {
					t.Errorf("%s = %.40q, want %.40q", item, got[item], v)
				}
			}
		})
	}
}

// TestKOTSCheckCatchesWrongItem shows the item check can fail.
func TestKOTSCheckCatchesWrongItem(t *testing.T) {
	t.Parallel()
	for _, doc := range []string{
		"metadataDBHots:\n      value: x\n",            // not an item
		"metadataDBPassword:\n      value: x\n",        // password given as value
		"metadataDBSSLMode:\n      value: \"true\"\n",  // bool not 0 or 1
		"metadataDBSSLCertificate:\n      value: x\n",  // file without filename
		"storageBucketsBehaviour:\n      value: gcs\n", // not an option
	} {
		_, problems, err := readKOTS([]byte("apiVersion: kots.io/v1beta1\nkind: ConfigValues\nspec:\n  values:\n    " + doc))
		if err != nil {
			t.Fatal(err)
		}
		if len(problems) == 0 {
			t.Errorf("passed the check: %q", doc)
		}
	}
}
