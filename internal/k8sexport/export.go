package k8sexport

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/carto-setup/carto-setup/internal/wizard"
)

// File names inside the Helm output directory. The first three are the
// contract of issue 17; secretsDir only exists with Options.SecretRefs.
const (
	ValuesFile  = "customizations.yaml"
	SecretsFile = "customizations.secrets.yaml"
	ReportFile  = "REPORT.md"
	secretsDir  = "secrets"
)

// Advanced holds the settings beyond the wizard's steps that carry over to
// Kubernetes: the outbound proxy, extra trusted CAs, the Google Maps key and
// free extra environment variables. The zero value means none of them.
type Advanced struct {
	HTTPProxy        string // HTTP_PROXY; may carry user:password, which is dropped
	HTTPSProxy       string // HTTPS_PROXY
	NoProxy          string // NO_PROXY, comma-separated
	CABundlePEM      string // extra CA certificates, PEM
	GoogleMapsAPIKey string // secret
	ExtraEnv         []EnvVar
}

// EnvVar is one extra environment variable of customer.env. Values are
// treated as secrets: only names reach the report.
type EnvVar struct {
	Name  string
	Value string
}

// Options changes how the export is shaped.
type Options struct {
	// SecretRefs writes references to Kubernetes Secrets into
	// customizations.secrets.yaml instead of the secret values, and puts
	// the values in secrets/ beside it with the kubectl commands that
	// create those Secrets.
	SecretRefs bool
}

// Result is a checked export, ready to be written.
type Result struct {
	// Values is customizations.yaml: no secret in it.
	Values []byte
	// Secrets is customizations.secrets.yaml: secret values, or with
	// SecretRefs only references to Kubernetes Secrets.
	Secrets []byte
	// SecretFiles maps a path under the output directory to the secret
	// value the kubectl commands read (SecretRefs only).
	SecretFiles map[string][]byte
	// Commands are the kubectl commands that create the Secrets the
	// references name (SecretRefs only); they hold no secret value.
	Commands []string
	// KOTS is the ConfigValues document. KOTS takes secrets inline, so it
	// is written owner-only.
	KOTS []byte
	// Report is REPORT.md: where each answer went and what was lost.
	Report []byte
	// Mappings lists, per answer, where it went in each flavour.
	Mappings []Mapping
	// Losses lists what does not carry over.
	Losses []Loss
}

// Mapping says where one answer went. An empty side means the flavour does
// not take it; a Loss then says so.
type Mapping struct {
	Answer string   // the answers-file field, e.g. "database.host"
	Helm   []string // "customizations.yaml: externalPostgresql.host"
	KOTS   []string // "metadataDBHost"
}

// Flavour is a Kubernetes flavour of CARTO.
type Flavour string

// The flavours a loss applies to.
const (
	FlavourHelm Flavour = "Helm"
	FlavourKOTS Flavour = "KOTS"
	FlavourBoth Flavour = "Helm and KOTS"
)

// Loss is one answer, or part of one, that does not carry over as it is.
type Loss struct {
	Flavour Flavour
	Answer  string
	Text    string // what is lost and what to do; no secret value
}

// String formats the loss as one report line.
func (l Loss) String() string {
	return fmt.Sprintf("[%s] %s: %s", l.Flavour, l.Answer, l.Text)
}

// LossLines returns the losses that concern flavour f, one line each, for
// the CLI to print where no report file is written (export kots).
func (r Result) LossLines(f Flavour) []string {
	var out []string
	for _, l := range r.Losses {
		if l.Applies(f) {
			out = append(out, l.String())
		}
	}
	return out
}

// Applies reports whether the loss concerns flavour f.
func (l Loss) Applies(f Flavour) bool {
	return l.Flavour == f || l.Flavour == FlavourBoth || f == FlavourBoth
}

// Export maps the wizard's answers and the advanced settings to Helm values,
// KOTS ConfigValues and the report. It refuses answers it cannot map
// faithfully (a missing host, a certificate that is not PEM) and checks
// every file before returning it: each YAML file must read back exactly as
// built, and no secret may appear in customizations.yaml or the report.
func Export(st wizard.State, adv Advanced, opts Options) (Result, error) {
	if err := validate(st, adv); err != nil {
		return Result{}, err
	}
	b := newBuilder(st, adv, opts)
	b.run()

	var res Result
	var err error
	if res.Values, err = b.values.encode(valuesHeader); err != nil {
		return Result{}, fmt.Errorf("export: %s: %w", ValuesFile, err)
	}
	if res.Secrets, err = b.secrets.encode(b.secretsHeader()); err != nil {
		return Result{}, fmt.Errorf("export: %s: %w", SecretsFile, err)
	}
	if res.KOTS, err = b.kots.encode(kotsHeader); err != nil {
		return Result{}, fmt.Errorf("export: kots: %w", err)
	}
	res.SecretFiles = b.secretFiles
	res.Commands = b.commands
	res.Mappings = b.mappings()
	res.Losses = b.losses
	res.Report = b.report(res.Mappings)

	shared := map[string][]byte{ValuesFile: res.Values, ReportFile: res.Report}
	sharedScalars := map[string][]string{ValuesFile: b.values.scalars()}
	if opts.SecretRefs {
		shared[SecretsFile] = res.Secrets
		sharedScalars[SecretsFile] = b.secrets.scalars()
		for _, c := range res.Commands {
			shared["kubectl commands"] = append(shared["kubectl commands"], c+"\n"...)
		}
	}
	if err := checkNoSecrets(secretsOf(st, adv), shared, sharedScalars); err != nil {
		return Result{}, fmt.Errorf("export: %w", err)
	}
	return res, nil
}

// secret is a secret value with the answer it belongs to, so an error can
// name the answer without printing the value.
type secret struct {
	answer string
	value  string
}

// secretsOf lists every secret of the state (every field of the wizard's
// one secret registry, wizard.State.SecretFields) and of the advanced
// settings, including those never exported (key.json, the ACME account
// key): none may appear where it does not belong.
func secretsOf(st wizard.State, adv Advanced) []secret {
	var all []secret
	for _, f := range st.SecretFields() {
		all = append(all, secret{f.What, *f.Value})
	}
	all = append(all, secret{"google_maps_api_key", adv.GoogleMapsAPIKey})
	for _, p := range []struct{ name, raw string }{{"proxy.http_proxy", adv.HTTPProxy}, {"proxy.https_proxy", adv.HTTPSProxy}} {
		if u, err := parseProxy(p.raw); err == nil && u != nil && u.User != nil {
			if pw, ok := u.User.Password(); ok {
				all = append(all, secret{p.name + " password", pw})
			}
		}
	}
	for _, e := range adv.ExtraEnv {
		if e.Name == envBigQuerySecret {
			all = append(all, secret{"extra_env." + e.Name, e.Value})
		}
	}
	var out []secret
	for _, s := range all {
		if s.value != "" {
			out = append(out, s)
		}
	}
	return out
}

// checkNoSecrets fails when a secret, as it is or base64-encoded, appears in
// a shareable output: anywhere in its bytes, or as any of its YAML scalars.
// Secrets shorter than four characters are only matched as whole scalars, so
// a one-letter password does not block every export.
func checkNoSecrets(secrets []secret, files map[string][]byte, scalars map[string][]string) error {
	for _, s := range secrets {
		forms := []string{s.value, base64.StdEncoding.EncodeToString([]byte(s.value))}
		for name, data := range files {
			for _, f := range forms {
				if len(f) >= 4 && strings.Contains(string(data), f) {
					return fmt.Errorf("the secret %s would appear in %s; refusing to export it", s.answer, name)
				}
			}
			for _, sc := range scalars[name] {
				for _, f := range forms {
					if sc == f || (len(f) >= 4 && strings.Contains(sc, f)) {
						return fmt.Errorf("the secret %s would appear in %s; refusing to export it", s.answer, name)
					}
				}
			}
		}
	}
	return nil
}

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// validate refuses answers that cannot be mapped faithfully. It lists every
// problem at once, naming answers but never their values.
func validate(st wizard.State, adv Advanced) error {
	var probs []string
	add := func(field, msg string) { probs = append(probs, field+": "+msg) }
	if strings.TrimSpace(st.Domain.Domain) == "" {
		add("domain", "not answered")
	}
	switch st.Database.Mode {
	case wizard.ModeEmbedded:
	case wizard.ModeExternal:
		if st.Database.Host == "" {
			add("database.host", "not answered")
		}
		if st.Database.WorkspaceUser == "" {
			add("database.workspace_user", "not answered")
		}
		if st.Database.WorkspaceDatabase == "" {
			add("database.workspace_database", "not answered")
		}
		checkPort(add, "database.port", st.Database.Port)
		checkPEM(add, "database.ssl_ca_file", st.Database.CAPEM)
	default:
		add("database.mode", "not answered")
	}
	switch st.Cache.Mode {
	case "", wizard.ModeEmbedded:
	case wizard.ModeExternal:
		if st.Cache.Host == "" {
			add("cache.host", "not answered")
		}
		checkPort(add, "cache.port", st.Cache.Port)
		checkPEM(add, "cache.tls_ca_file", st.Cache.CAPEM)
	default:
		add("cache.mode", "unknown mode")
	}
	switch st.TLS.Mode {
	case wizard.TLSSelfSigned, wizard.TLSUpload, wizard.TLSACME:
		if _, err := leafCertificate(st.TLS.CertPEM); err != nil {
			add("tls.cert_file", err.Error())
		}
		if block, _ := pem.Decode([]byte(st.TLS.KeyPEM)); block == nil {
			add("tls.key_file", "not a PEM private key")
		}
	default:
		add("tls.mode", "not answered")
	}
	bk := st.Buckets
	switch bk.Mode {
	case wizard.BucketsCartoManaged:
	case wizard.BucketsGCS, wizard.BucketsS3, wizard.BucketsAzure:
		if bk.Imports.Name == "" {
			add("buckets.imports.bucket", "not answered")
		}
		if bk.Thumbnails.Name == "" {
			add("buckets.thumbnails.bucket", "not answered")
		}
		switch bk.Mode {
		case wizard.BucketsGCS:
			if bk.GCSKeyJSON == "" {
				add("buckets.gcs.key_file", "not answered")
			}
		case wizard.BucketsS3:
			if bk.S3AccessKeyID == "" || bk.S3SecretAccessKey == "" {
				add("buckets.s3", "access key not answered")
			}
		case wizard.BucketsAzure:
			if bk.AzureStorageAccount == "" || bk.AzureAccessKey == "" {
				add("buckets.azure", "storage account or access key not answered")
			}
		}
	default:
		add("buckets.mode", "not answered")
	}
	for _, p := range []struct{ name, raw string }{{"proxy.http_proxy", adv.HTTPProxy}, {"proxy.https_proxy", adv.HTTPSProxy}} {
		if _, err := parseProxy(p.raw); err != nil {
			add(p.name, err.Error())
		}
	}
	checkPEM(add, "ca_bundle", adv.CABundlePEM)
	seen := map[string]bool{}
	for _, e := range adv.ExtraEnv {
		if !envName.MatchString(e.Name) {
			add("extra_env", fmt.Sprintf("%q is not an environment variable name", e.Name))
		} else if seen[e.Name] {
			add("extra_env."+e.Name, "given twice")
		}
		seen[e.Name] = true
	}
	if len(probs) > 0 {
		return errors.New("export: the answers cannot be exported: " + strings.Join(probs, "; "))
	}
	return nil
}

func checkPort(add func(string, string), field string, port int) {
	if port < 0 || port > 65535 {
		add(field, "not a port number")
	}
}

// checkPEM accepts an empty value or one holding at least one certificate.
func checkPEM(add func(string, string), field, s string) {
	if s == "" {
		return
	}
	if certs, err := certificates(s); err != nil || len(certs) == 0 {
		add(field, "not a PEM certificate")
	}
}

func certificates(s string) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	rest := []byte(s)
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return out, nil
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
}

func leafCertificate(s string) (*x509.Certificate, error) {
	certs, err := certificates(s)
	if err != nil || len(certs) == 0 {
		return nil, errors.New("not a PEM certificate")
	}
	return certs[0], nil
}

// parseProxy reads a proxy URL as HTTP clients do: a missing scheme means
// http. An empty value is no proxy.
func parseProxy(raw string) (*url.URL, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return nil, nil
	}
	if !strings.Contains(raw, "://") {
		raw = "http://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil || u.Hostname() == "" {
		return nil, errors.New("not a proxy URL with a host")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, errors.New("only http and https proxies are supported")
	}
	return u, nil
}
