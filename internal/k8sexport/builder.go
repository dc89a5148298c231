package k8sexport

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/carto-setup/carto-setup/internal/wizard"
)

// builder fills the Helm and KOTS trees and records, for every value it
// writes, which answer it came from, so the report's mapping is produced by
// the same code as the files and cannot drift from them.
type builder struct {
	st   wizard.State
	adv  Advanced
	opts Options

	values  *tree // customizations.yaml
	secrets *tree // customizations.secrets.yaml
	kots    *tree // ConfigValues

	rows   []*Mapping
	rowOf  map[string]*Mapping
	losses []Loss

	refs        []*secretRef
	secretFiles map[string][]byte
	commands    []string
}

// secretRef is a Kubernetes Secret that the SecretRefs mode asks the admin
// to create, with the values its keys hold.
type secretRef struct {
	name string
	tls  bool // kubernetes.io/tls, created from a certificate and key file
	keys []string
	vals map[string]string
}

func newBuilder(st wizard.State, adv Advanced, opts Options) *builder {
	kots := newTree()
	kots.set("apiVersion", "kots.io/v1beta1")
	kots.set("kind", "ConfigValues")
	return &builder{
		st: st, adv: adv, opts: opts,
		values: newTree(), secrets: newTree(), kots: kots,
		rowOf: map[string]*Mapping{},
	}
}

func (b *builder) row(answer string) *Mapping {
	if m, ok := b.rowOf[answer]; ok {
		return m
	}
	m := &Mapping{Answer: answer}
	b.rowOf[answer] = m
	b.rows = append(b.rows, m)
	return m
}

// val writes a non-secret Helm value to customizations.yaml.
func (b *builder) val(answer, path string, v any) {
	b.values.set(path, v)
	b.row(answer).Helm = append(b.row(answer).Helm, ValuesFile+": "+path)
}

// sec writes a Helm value to customizations.secrets.yaml.
func (b *builder) sec(answer, path string, v any) {
	b.secrets.set(path, v)
	b.row(answer).Helm = append(b.row(answer).Helm, SecretsFile+": "+path)
}

// helmNote records where an answer went in Helm when it is not a value.
func (b *builder) helmNote(answer, note string) {
	b.row(answer).Helm = append(b.row(answer).Helm, note)
}

// kv sets a KOTS text, bool or select_one item.
func (b *builder) kv(answer, item, value string) {
	b.kots.set("spec.values."+item+".value", value)
	b.kotsRow(answer, item)
}

// kpw sets a KOTS password item, which takes its value in plain text under
// valuePlaintext (KOTS encrypts it on import).
func (b *builder) kpw(answer, item, value string) {
	b.kots.set("spec.values."+item+".valuePlaintext", value)
	b.kotsRow(answer, item)
}

// kfile sets a KOTS file item: the file name and its content in base64.
func (b *builder) kfile(answer, item, filename, content string) {
	b.kots.set("spec.values."+item+".filename", filename)
	b.kots.set("spec.values."+item+".value", base64.StdEncoding.EncodeToString([]byte(content)))
	b.kotsRow(answer, item)
}

func (b *builder) kotsRow(answer, item string) {
	r := b.row(answer)
	for _, x := range r.KOTS {
		if x == item {
			return
		}
	}
	r.KOTS = append(r.KOTS, item)
}

func (b *builder) kotsNote(answer, note string) {
	b.row(answer).KOTS = append(b.row(answer).KOTS, note)
}

func (b *builder) lose(f Flavour, answer, format string, args ...any) {
	b.row(answer) // a lost answer still gets its row in the mapping
	b.losses = append(b.losses, Loss{Flavour: f, Answer: answer, Text: fmt.Sprintf(format, args...)})
}

// secretValue puts a secret into the Helm output: as a value in the secrets
// file, or with SecretRefs as a key of a Kubernetes Secret whose name and key
// the refPaths point to.
func (b *builder) secretValue(answer, valuePath, secretName, key, value string, refPaths func(name, key string)) {
	if !b.opts.SecretRefs {
		b.sec(answer, valuePath, value)
		return
	}
	b.addRef(secretName, false, key, value)
	refPaths(secretName, key)
	b.helmNote(answer, fmt.Sprintf("Kubernetes Secret %s, key %s", secretName, key))
}

func (b *builder) addRef(name string, tls bool, key, value string) {
	var r *secretRef
	for _, x := range b.refs {
		if x.name == name {
			r = x
		}
	}
	if r == nil {
		r = &secretRef{name: name, tls: tls, vals: map[string]string{}}
		b.refs = append(b.refs, r)
	}
	if _, ok := r.vals[key]; !ok {
		r.keys = append(r.keys, key)
	}
	r.vals[key] = value
}

// appSecret maps a secret to the chart's appSecrets.<name>, which takes
// either .value or .existingSecret.{name,key}.
func (b *builder) appSecret(answer, name, key, value string) {
	b.secretValue(answer, "appSecrets."+name+".value", secretApp, key, value, func(sn, k string) {
		b.sec(answer, "appSecrets."+name+".existingSecret.name", sn)
		b.secrets.set("appSecrets."+name+".existingSecret.key", k)
	})
}

// Names of the Kubernetes Secrets the SecretRefs mode creates.
const (
	secretPostgres = "carto-postgresql"
	secretRedis    = "carto-redis"
	secretTLS      = "carto-router-tls"
	secretApp      = "carto-app-secrets"
)

func (b *builder) run() {
	b.domain()
	b.database()
	b.cache()
	b.tls()
	b.buckets()
	b.proxy()
	b.caBundle()
	b.maps()
	b.extraEnv()
	b.licence()
	b.finishRefs()
}

func (b *builder) domain() {
	d := strings.TrimSpace(b.st.Domain.Domain)
	b.val("domain", "appConfigValues.selfHostedDomain", d)
	b.kv("domain", "cartoSelfHostedDomain", d)
}

func orDefault(p, def int) int {
	if p == 0 {
		return def
	}
	return p
}

func boolItem(v bool) string {
	if v {
		return "1"
	}
	return "0"
}

func (b *builder) database() {
	db := b.st.Database
	if db.Mode == wizard.ModeEmbedded {
		b.val("database.mode", "internalPostgresql.enabled", true)
		b.lose(FlavourBoth, "database.mode",
			"the embedded PostgreSQL (the workspace-postgres container) and the data in it do not move. "+
				"The chart's internal PostgreSQL is deprecated and starts empty; KOTS takes only an external database "+
				"(the metadataDB* items are required). Move the workspace database to an external PostgreSQL first "+
				"(pg_dump and pg_restore), keep the encryption key (see the licence-owned values), "+
				"answer the database step with it and export again.")
		return
	}
	port := orDefault(db.Port, 5432)
	b.val("database.mode", "internalPostgresql.enabled", false)
	b.kotsNote("database.mode", "external only (no item)")
	b.val("database.host", "externalPostgresql.host", db.Host)
	b.kv("database.host", "metadataDBHost", db.Host)
	b.val("database.port", "externalPostgresql.port", port)
	b.kv("database.port", "metadataDBPort", fmt.Sprint(port))
	b.val("database.workspace_user", "externalPostgresql.user", db.WorkspaceUser)
	b.kv("database.workspace_user", "metadataDBUser", db.WorkspaceUser)
	b.val("database.workspace_database", "externalPostgresql.database", db.WorkspaceDatabase)
	b.kv("database.workspace_database", "metadataDBName", db.WorkspaceDatabase)
	if db.WorkspacePassword != "" {
		b.secretValue("database.workspace_password", "externalPostgresql.password", secretPostgres, "password", db.WorkspacePassword,
			func(name, key string) {
				b.sec("database.workspace_password", "externalPostgresql.existingSecret", name)
				b.sec("database.workspace_password", "externalPostgresql.existingSecretPasswordKey", key)
			})
		b.kpw("database.workspace_password", "metadataDBPassword", db.WorkspacePassword)
	} else {
		b.lose(FlavourKOTS, "database.workspace_password",
			"KOTS requires a password for the workspace user (metadataDBPassword) and none was answered.")
	}
	if db.AdminUser != "" {
		b.val("database.admin_user", "externalPostgresql.adminUser", db.AdminUser)
	}
	if db.AdminDatabase != "" {
		b.val("database.admin_database", "externalPostgresql.adminDatabase", db.AdminDatabase)
	}
	if db.AdminPassword != "" {
		b.secretValue("database.admin_password", "externalPostgresql.adminPassword", secretPostgres, "admin-password", db.AdminPassword,
			func(name, key string) {
				b.sec("database.admin_password", "externalPostgresql.existingSecret", name)
				b.sec("database.admin_password", "externalPostgresql.existingSecretAdminPasswordKey", key)
			})
	}
	if db.AdminUser != "" || db.AdminPassword != "" || db.AdminDatabase != "" {
		b.lose(FlavourKOTS, "database.admin_user",
			"KOTS takes no admin credentials (admin user, password and database are not exported to it): "+
				"the workspace user and database must exist before the install. If the database server is new, "+
				"the DBA runs, as a user with CREATEROLE and CREATEDB:\n\n%s\n\n"+
				"(replace the password placeholder with the workspace password). If KOTS uses the database this install "+
				"already uses, both exist: then stop this install first and keep the encryption key.",
			codeBlock("sql", createRoleSQL(db.WorkspaceUser, db.WorkspaceDatabase)))
	}

	ssl := db.SSL || (db.SSLMode != "" && db.SSLMode != "disable")
	b.val("database.ssl", "externalPostgresql.sslEnabled", ssl)
	b.kv("database.ssl", "metadataDBSSLMode", boolItem(ssl))
	if db.SSLMode != "" {
		b.helmNote("database.ssl_mode", "as externalPostgresql.sslEnabled")
		b.kotsNote("database.ssl_mode", "as metadataDBSSLMode")
	}
	if ssl && (db.SSLMode == "verify-ca" || db.SSLMode == "verify-full") {
		b.lose(FlavourBoth, "database.ssl_mode",
			"sslmode %s is reduced to SSL on (externalPostgresql.sslEnabled, metadataDBSSLMode): the chart only sets "+
				"require or disable, so the certificate checks of %s are no longer asked for by this setting.", db.SSLMode, db.SSLMode)
	}
	switch {
	case db.CAPEM != "" && ssl:
		b.val("database.ssl_ca_file", "externalPostgresql.sslCA", db.CAPEM)
		b.kfile("database.ssl_ca_file", "metadataDBSSLCertificate", "postgresql-ssl-ca.crt", db.CAPEM)
	case db.CAPEM != "":
		b.lose(FlavourBoth, "database.ssl_ca_file", "not exported: SSL to the database is off, so no CA is used.")
	case ssl:
		b.lose(FlavourKOTS, "database.ssl_ca_file",
			"KOTS requires an SSL certificate file (metadataDBSSLCertificate) when TLS is on, and none was answered "+
				"(the server's certificate is publicly trusted): upload the CA certificate that signed it in the KOTS admin console.")
	}
}

// createRoleSQL is what a DBA runs so that the workspace user and database
// exist before KOTS installs. Identifiers are quoted so any name is safe.
func createRoleSQL(user, database string) string {
	return fmt.Sprintf("CREATE ROLE %s LOGIN PASSWORD 'the workspace password';\nCREATE DATABASE %s OWNER %s;",
		quoteIdent(user), quoteIdent(database), quoteIdent(user))
}

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

func (b *builder) cache() {
	c := b.st.Cache
	if c.Mode != wizard.ModeExternal {
		b.val("cache.mode", "internalRedis.enabled", true)
		b.kv("cache.mode", "externalRedisEnabled", "0")
		return
	}
	port := orDefault(c.Port, 6379)
	b.val("cache.mode", "internalRedis.enabled", false)
	b.kv("cache.mode", "externalRedisEnabled", "1")
	b.val("cache.host", "externalRedis.host", c.Host)
	b.kv("cache.host", "externalRedisHost", c.Host)
	b.val("cache.port", "externalRedis.port", port)
	b.kv("cache.port", "externalRedisPort", fmt.Sprint(port))
	if c.Password != "" {
		b.secretValue("cache.password", "externalRedis.password", secretRedis, "password", c.Password,
			func(name, key string) {
				b.sec("cache.password", "externalRedis.existingSecret", name)
				b.sec("cache.password", "externalRedis.existingSecretPasswordKey", key)
			})
		b.kpw("cache.password", "externalRedisPassword", c.Password)
	} else {
		b.lose(FlavourKOTS, "cache.password",
			"KOTS requires a password for an external Redis (externalRedisPassword) and the cache has none: "+
				"set one on the server (requirepass) and enter it in the KOTS admin console.")
	}
	b.val("cache.tls", "externalRedis.tlsEnabled", c.TLS)
	if c.TLS {
		b.kv("cache.tls", "externalRedisTLSBehaviour", "tls_enabled")
	} else {
		b.kv("cache.tls", "externalRedisTLSBehaviour", "tls_disabled")
	}
	switch {
	case c.CAPEM != "" && c.TLS:
		b.val("cache.tls_ca_file", "externalRedis.tlsCA", c.CAPEM)
		b.kfile("cache.tls_ca_file", "externalRedisTLSCertificate", "redis-tls-ca.crt", c.CAPEM)
	case c.CAPEM != "":
		b.lose(FlavourBoth, "cache.tls_ca_file", "not exported: TLS to the cache is off, so no CA is used.")
	case c.TLS:
		b.lose(FlavourKOTS, "cache.tls_ca_file",
			"KOTS requires an SSL/TLS certificate file (externalRedisTLSCertificate) when TLS is on, and none was answered: "+
				"upload the CA certificate that signed the Redis server's certificate in the KOTS admin console.")
	}
}

func (b *builder) tls() {
	t := b.st.TLS
	leaf, _ := leafCertificate(t.CertPEM) // validate made sure it parses
	fp := fingerprint(leaf.Raw)
	if b.opts.SecretRefs {
		// The chart refuses router.tlsCertificates.existingSecret next to
		// certificateValueBase64, so the certificate goes into the Secret too.
		b.addRef(secretTLS, true, "tls.crt", t.CertPEM)
		b.addRef(secretTLS, true, "tls.key", t.KeyPEM)
		b.sec("tls.cert_file", "router.tlsCertificates.existingSecret.name", secretTLS)
		b.helmNote("tls.cert_file", "Kubernetes Secret "+secretTLS+" (kubernetes.io/tls), key tls.crt")
		b.helmNote("tls.key_file", "Kubernetes Secret "+secretTLS+" (kubernetes.io/tls), key tls.key")
	} else {
		b.val("tls.cert_file", "router.tlsCertificates.certificateValueBase64", base64.StdEncoding.EncodeToString([]byte(t.CertPEM)))
		b.sec("tls.key_file", "router.tlsCertificates.privateKeyValueBase64", base64.StdEncoding.EncodeToString([]byte(t.KeyPEM)))
	}
	b.kv("tls.mode", "TLSTerminationLayer", "accessToCartoRouterHTTPS")
	b.kfile("tls.cert_file", "accessToCartoCustomTLSCertFile", "tls.crt", t.CertPEM)
	b.kfile("tls.key_file", "accessToCartoCustomTLSKeyFile", "tls.key", t.KeyPEM)
	switch t.Mode {
	case wizard.TLSSelfSigned:
		b.helmNote("tls.mode", "the self-signed pair is exported as an uploaded certificate, so its fingerprint stays the same (tlsCerts.autoGenerate is deprecated)")
		b.lose(FlavourKOTS, "tls.mode",
			"KOTS has no self-signed option: it takes an uploaded certificate and key. The self-signed pair carto-setup "+
				"generated (SHA-256 %s) is uploaded as it is, so browsers keep warning until you replace it with a "+
				"certificate from a CA.", fp)
	case wizard.TLSACME:
		b.helmNote("tls.mode", "the current Let's Encrypt certificate is exported as an uploaded one")
		b.lose(FlavourBoth, "tls.mode",
			"Let's Encrypt renewal does not carry over: the exported certificate expires on %s and nothing renews it "+
				"in the cluster (carto-setup renew only serves this VM). Before then, issue the certificate in the cluster "+
				"(for example with cert-manager) or upload a renewed pair. The ACME e-mail and account are not exported.",
			leaf.NotAfter.UTC().Format("2006-01-02"))
	default:
		b.helmNote("tls.mode", "uploaded certificate")
	}
}

// fingerprint formats a certificate's SHA-256 the way browsers show it.
func fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	parts := make([]string, len(sum))
	for i, c := range sum {
		parts[i] = fmt.Sprintf("%02X", c)
	}
	return strings.Join(parts, ":")
}

// codeBlock fences text for Markdown with more backticks than the text
// holds in a row, so no value can end the block early.
func codeBlock(lang, text string) string {
	fence := strings.Repeat("`", max(3, longestRun(text, '`')+1))
	return fence + lang + "\n" + text + "\n" + fence
}

// code formats text as an inline Markdown code span that no value can break.
func code(text string) string {
	text = strings.ReplaceAll(text, "\n", " ")
	fence := strings.Repeat("`", longestRun(text, '`')+1)
	if strings.HasPrefix(text, "`") || strings.HasSuffix(text, "`") {
		text = " " + text + " "
	}
	return fence + text + fence
}

func longestRun(s string, c byte) int {
	best, cur := 0, 0
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			cur++
			best = max(best, cur)
		} else {
			cur = 0
		}
	}
	return best
}
