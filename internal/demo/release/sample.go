package release

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"strings"
)

// Sample customer-package identity: a fake tenant that no CARTO service
// knows.
const (
	SampleTenantID       = "onp-demo"
	SampleGCPProjectID   = "carto-tnt-onp-demo"
	SamplePackageVersion = "2026.8.11"
	SampleClientEmail    = "serv-onp-demo@carto-tnt-onp-demo.iam.gserviceaccount.com"
)

// SampleCustomerEnv returns a customer.env shaped like the one CARTO sends
// (carto-facts §3): every variable Compose or env.tpl needs, the "local"
// PostgreSQL and Redis blocks active and the "external" ones commented out,
// fresh random secrets (single-quoted, as a generator should write them),
// and SELFHOSTED_DOMAIN set to domain.
func SampleCustomerEnv(domain string) []byte {
	return sampleCustomerEnv(domain, SamplePackageVersion, sampleSecrets{})
}

// SampleCustomerEnvs returns the customer.env CARTO would send one tenant
// for each stand-in release: older (OlderPackageVersion, accepted by the
// older release and below the newer release's MIN_VERSION) and newer
// (SamplePackageVersion). Both carry the same secrets, as two packages of
// one tenant do; only the package version differs.
func SampleCustomerEnvs(domain string) (older, newer []byte) {
	s := sampleSecrets{}
	return sampleCustomerEnv(domain, OlderPackageVersion, s), sampleCustomerEnv(domain, SamplePackageVersion, s)
}

// sampleSecrets gives each secret of a sample package a random value,
// the same one every time it is asked for the same name.
type sampleSecrets map[string]string

func (s sampleSecrets) get(name string) string {
	if _, ok := s[name]; !ok {
		s[name] = rand.Text()
	}
	return s[name]
}

func sampleCustomerEnv(domain, packageVersion string, secrets sampleSecrets) []byte {
	secret := secrets.get
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	w("# CARTO Self-Hosted customer package (stand-in sample for carto-setup tests; not issued by CARTO)")
	w("CARTO_SELFHOSTED_CUSTOMER_PACKAGE_VERSION=%s", packageVersion)
	w("")
	w("# Instance")
	w("SELFHOSTED_DOMAIN=%s", domain)
	w("SELFHOSTED_TENANT_ID=%s", SampleTenantID)
	w("SELFHOSTED_GCP_PROJECT_ID=%s", SampleGCPProjectID)
	w("CARTO_SELFHOSTED_INSTANCE_ID=%s", strings.ToLower(secret("CARTO_SELFHOSTED_INSTANCE_ID")))
	w("")
	w("# CARTO accounts and authentication")
	w("CARTO_AUTH0_CLIENT_ID=%s", secret("CARTO_AUTH0_CLIENT_ID"))
	w("CARTO_AUTH0_CUSTOM_DOMAIN=auth.carto.com")
	w("ACC_DOMAIN=accounts.app.carto.com")
	w("ACC_GCP_PROJECT_ID=carto-acc-demo")
	w("ACC_GCP_PROJECT_REGION=us-east1")
	w("DO_API_DOMAIN=do-api.carto.com")
	w("DO_ASSETS_DOMAIN=do-assets.carto.com")
	w("")
	w("# Internal secrets: do not change")
	w("WORKSPACE_JWT_SECRET='%s'", secret("WORKSPACE_JWT_SECRET"))
	w("ENCRYPTION_SECRET_KEY='%s'", secret("ENCRYPTION_SECRET_KEY"))
	w("VARNISH_PURGE_SECRET='%s'", secret("VARNISH_PURGE_SECRET"))
	w("LAUNCHDARKLY_SDK_KEY='sdk-%s'", secret("LAUNCHDARKLY_SDK_KEY"))
	w("")
	w("# Default CARTO-managed buckets")
	w("WORKSPACE_IMPORTS_BUCKET=carto-tnt-%s-client-storage", SampleTenantID)
	w("WORKSPACE_THUMBNAILS_BUCKET=carto-tnt-%s-thumbnails", SampleTenantID)
	w("WORKSPACE_THUMBNAILS_PUBLIC=true")
	w("")
	w("# Configuration for using a local postgres, instead of an external one (comment when external postgres)")
	w("LOCAL_POSTGRES_SCALE=1")
	w("WORKSPACE_POSTGRES_HOST=workspace-postgres")
	w("WORKSPACE_POSTGRES_PORT=5432")
	w("WORKSPACE_POSTGRES_USER=workspace_admin")
	w("WORKSPACE_POSTGRES_PASSWORD='%s'", secret("WORKSPACE_POSTGRES_PASSWORD"))
	w("WORKSPACE_POSTGRES_DB=workspace")
	w("WORKSPACE_POSTGRES_SSL_ENABLED=false")
	w("WORKSPACE_POSTGRES_SSL_MODE=disable")
	w("POSTGRES_ADMIN_USER=postgres")
	w("POSTGRES_ADMIN_PASSWORD='%s'", secret("POSTGRES_ADMIN_PASSWORD"))
	w("POSTGRES_ADMIN_DB=postgres")
	w("")
	w("# Configuration for using an external postgres, instead of the local one (uncomment when external postgres)")
	w("# LOCAL_POSTGRES_SCALE=0")
	w("# WORKSPACE_POSTGRES_HOST=<FILL_ME>")
	w("# WORKSPACE_POSTGRES_PORT=<FILL_ME>")
	w("# WORKSPACE_POSTGRES_USER=workspace_admin")
	w("# WORKSPACE_POSTGRES_PASSWORD=<FILL_ME>")
	w("# WORKSPACE_POSTGRES_DB=workspace")
	w("# WORKSPACE_POSTGRES_SSL_ENABLED=true")
	w("# WORKSPACE_POSTGRES_SSL_MODE=require")
	w("# WORKSPACE_POSTGRES_SSL_CA=/usr/src/certs/postgresql-ssl-ca.crt")
	w("# POSTGRES_ADMIN_USER=<FILL_ME>")
	w("# POSTGRES_ADMIN_PASSWORD=<FILL_ME>")
	w("# POSTGRES_ADMIN_DB=postgres")
	w("")
	w("# Configuration for using a local redis, instead of an external one (comment when external redis)")
	w("LOCAL_REDIS_SCALE=1")
	w("REDIS_HOST=redis")
	w("REDIS_PORT=6379")
	w("REDIS_TLS_ENABLED=false")
	w("")
	w("# Configuration for using an external redis, instead of the local one (uncomment when external redis)")
	w("# LOCAL_REDIS_SCALE=0")
	w("# REDIS_HOST=<FILL_ME>")
	w("# REDIS_PORT=<FILL_ME>")
	w("# REDIS_PASSWORD=<FILL_ME>")
	w("# REDIS_TLS_ENABLED=true")
	w("# REDIS_TLS_CA=/usr/src/certs/redis-tls-ca.crt")
	w("")
	w("# Router TLS: a self-signed certificate unless a certificate is given in certs/")
	w("ROUTER_SSL_AUTOGENERATE=1")
	w("# ROUTER_SSL_AUTOGENERATE=0")
	w("# ROUTER_SSL_CERTIFICATE_PATH=/etc/nginx/ssl/<cert>.crt")
	w("# ROUTER_SSL_CERTIFICATE_KEY_PATH=/etc/nginx/ssl/<cert>.key")
	return []byte(b.String())
}

// SampleKeyJSON returns a well-formed but fake Google service-account key
// for the sample tenant, with a freshly generated RSA private key; no Google
// service accepts it.
func SampleKeyJSON() ([]byte, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("release: sample key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("release: sample key: %w", err)
	}
	id := make([]byte, 20)
	rand.Read(id)
	clientID := make([]byte, 10)
	rand.Read(clientID)
	var digits strings.Builder
	for _, c := range clientID {
		fmt.Fprintf(&digits, "%02d", int(c)%100)
	}
	doc := struct {
		Type                    string `json:"type"`
		ProjectID               string `json:"project_id"`
		PrivateKeyID            string `json:"private_key_id"`
		PrivateKey              string `json:"private_key"`
		ClientEmail             string `json:"client_email"`
		ClientID                string `json:"client_id"`
		AuthURI                 string `json:"auth_uri"`
		TokenURI                string `json:"token_uri"`
		AuthProviderX509CertURL string `json:"auth_provider_x509_cert_url"`
		ClientX509CertURL       string `json:"client_x509_cert_url"`
		UniverseDomain          string `json:"universe_domain"`
	}{
		Type:                    "service_account",
		ProjectID:               SampleGCPProjectID,
		PrivateKeyID:            hex.EncodeToString(id),
		PrivateKey:              string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		ClientEmail:             SampleClientEmail,
		ClientID:                "1" + digits.String(),
		AuthURI:                 "https://accounts.google.com/o/oauth2/auth",
		TokenURI:                "https://oauth2.googleapis.com/token",
		AuthProviderX509CertURL: "https://www.googleapis.com/oauth2/v1/certs",
		ClientX509CertURL:       "https://www.googleapis.com/robot/v1/metadata/x509/" + strings.ReplaceAll(SampleClientEmail, "@", "%40"),
		UniverseDomain:          "googleapis.com",
	}
	out, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("release: sample key: %w", err)
	}
	return append(out, '\n'), nil
}
