package wizard

import (
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// notSecret lists the fields whose names look secret but whose values are
// not, with the reason. A new field that looks secret must be either tagged
// secret:"…" in inputs.go or listed here.
var notSecret = map[string]string{
	"Package.Summary.ServiceAccount": "the service account's e-mail, shown to identify the package",
	"Buckets.S3AccessKeyID":          "an access key ID identifies the key; AWS treats it as public",
	"Buckets.AzureStorageAccount":    "the storage account's name, part of every blob URL",
	"TLS.CertPEM":                    "a certificate is public",
	"Database.CAPEM":                 "a CA certificate is public",
	"Cache.CAPEM":                    "a CA certificate is public",
	"TLS.Fingerprint":                "the certificate's fingerprint is public",
	"Domain.BrowserNonce":            "a one-time nonce that proves the domain reaches this VM; it guards nothing",
	"Advanced.BigQueryOAuthClientID": "an OAuth client ID is public: every browser that signs in sees it",
	"Advanced.Extra.Key":             "the name of a customer.env setting",
	"Advanced.ExtraCAPEM":            "CA certificates are public",
}

// looksSecret is deliberately wider than the key-name rule of the masker:
// it asks a human to decide.
var looksSecret = regexp.MustCompile(`(?i)pass|pwd|secret|token|key|account|credential|private|pem|nonce|auth|cookie|cert`)

func TestEverySecretLookingFieldIsRegistered(t *testing.T) {
	var st State
	registered := map[string]bool{}
	for _, f := range st.SecretFields() {
		registered[f.Name] = true
	}
	seen := map[reflect.Type]bool{}
	var walk func(t reflect.Type, prefix string, inContainer bool)
	walk = func(typ reflect.Type, prefix string, inContainer bool) {
		// SecretFields walks slices of structs, not maps, arrays or
		// pointers.
		for typ.Kind() == reflect.Pointer || typ.Kind() == reflect.Slice || typ.Kind() == reflect.Map || typ.Kind() == reflect.Array {
			typ, inContainer = typ.Elem(), inContainer || typ.Kind() != reflect.Slice
		}
		if typ.Kind() != reflect.Struct || typ.PkgPath() != reflect.TypeFor[State]().PkgPath() || seen[typ] {
			return
		}
		seen[typ] = true
		defer delete(seen, typ)
		for i := range typ.NumField() {
			f := typ.Field(i)
			if !f.IsExported() {
				continue
			}
			name := strings.TrimPrefix(prefix+"."+f.Name, ".")
			_, tagged := f.Tag.Lookup("secret")
			if tagged && inContainer {
				t.Errorf("%s is tagged secret inside a slice or map, where SecretFields cannot reach it", name)
			}
			if f.Type.Kind() == reflect.String && !tagged && !inContainer {
				jsonName, _, _ := strings.Cut(f.Tag.Get("json"), ",")
				if (looksSecret.MatchString(f.Name) || looksSecret.MatchString(jsonName)) && notSecret[name] == "" {
					t.Errorf("%s looks secret: tag it secret:\"what it is\" in inputs.go, or list it in notSecret with the reason", name)
				}
			}
			walk(f.Type, name, inContainer)
		}
	}
	walk(reflect.TypeFor[State](), "", false)
	st.Advanced.Extra = []AdvancedVar{{Key: "A", Value: "plain"}, {Key: "B", Value: "hidden", Secret: true}}
	var extra []string
	for _, f := range st.SecretFields() {
		if strings.HasPrefix(f.Name, "Advanced.Extra") {
			extra = append(extra, f.Name+"="+*f.Value)
		}
	}
	if strings.Join(extra, ",") != "Advanced.Extra[1].Value=hidden" {
		t.Errorf("free settings registered: %v, want only the one marked secret", extra)
	}
	for name := range notSecret {
		if registered[name] {
			t.Errorf("%s is both registered and listed as not secret", name)
		}
	}
}

func TestSecretFields(t *testing.T) {
	var st State
	fields := st.SecretFields()
	var names []string
	for _, f := range fields {
		names = append(names, f.Name)
		*f.Value = "v-" + f.Name
	}
	want := []string{"Package.KeyJSON", "Database.AdminPassword", "Database.WorkspacePassword", "Cache.Password",
		"TLS.KeyPEM", "TLS.ACMEAccount", "Buckets.GCSKeyJSON", "Buckets.S3SecretAccessKey", "Buckets.AzureAccessKey",
		"Advanced.GoogleMapsAPIKey", "Advanced.BigQueryOAuthClientSecret", "LastInstall.Key"}
	if !slices.Equal(names, want) {
		t.Errorf("registered %v, want %v", names, want)
	}
	// Value points into the state: setting it changes st.
	if st.Database.AdminPassword != "v-Database.AdminPassword" || st.Buckets.AzureAccessKey != "v-Buckets.AzureAccessKey" {
		t.Errorf("setting through SecretFields did not reach the state: %+v", st.Database)
	}
	if got := st.Secrets(); len(got) != len(want) || got[0] != "v-Package.KeyJSON" {
		t.Errorf("Secrets() = %q", got)
	}
	st.Cache.Password = ""
	if got := st.Secrets(); len(got) != len(want)-1 || slices.Contains(got, "") {
		t.Errorf("Secrets() with an empty field = %q", got)
	}
	for _, f := range fields {
		if f.What == "" {
			t.Errorf("%s has no description", f.Name)
		}
	}
}
