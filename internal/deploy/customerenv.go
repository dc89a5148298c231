package deploy

import (
	"bufio"
	"bytes"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/carto-setup/carto-setup/internal/buckets"
	"github.com/carto-setup/carto-setup/internal/check"
	"github.com/carto-setup/carto-setup/internal/dbcheck"
	"github.com/carto-setup/carto-setup/internal/envfile"
	"github.com/carto-setup/carto-setup/internal/wizard"
)

// Paths inside the containers, as carto-facts §3 documents them. certs/ is
// mounted at /usr/src/certs in the services and at /etc/nginx/ssl in the
// router.
const (
	containerCerts   = "/usr/src/certs/"
	routerCerts      = "/etc/nginx/ssl/"
	placeholderValue = "<FILL_ME>"
)

// Names of the files the install writes: in the release directory
// (customer.env, key.json, .env) and in its certs/ directory.
const (
	CustomerEnvFile = "customer.env"
	DotEnvFile      = ".env"
	ServiceKeyFile  = "key.json" // in the release directory and in certs/
	CertsDir        = "certs"
	RouterCertFile  = "carto-router.crt"
	RouterKeyFile   = "carto-router.key"
	PostgresCAFile  = "postgresql-ssl-ca.crt"
	RedisCAFile     = "redis-tls-ca.crt"
	BucketKeyFile   = "bucket-gcs-key.json"
	ExtraCAFile     = "extra-ca-bundle.pem"
)

// The embedded database's and cache's addresses inside the compose
// network (carto-facts §3.2, §3.3).
const (
	embeddedPGHost    = "workspace-postgres"
	embeddedPGPort    = "5432"
	embeddedRedis     = "redis"
	embeddedRedisPort = "6379"
)

// The customer.env keys of each block the wizard owns (carto-facts §3.2 to
// §3.4), in the order they are written.
var (
	databaseKeys = []string{
		"LOCAL_POSTGRES_SCALE",
		"WORKSPACE_POSTGRES_HOST", "WORKSPACE_POSTGRES_PORT",
		"WORKSPACE_POSTGRES_USER", "WORKSPACE_POSTGRES_PASSWORD", "WORKSPACE_POSTGRES_DB",
		"WORKSPACE_POSTGRES_SSL_ENABLED", "WORKSPACE_POSTGRES_SSL_MODE", "WORKSPACE_POSTGRES_SSL_CA",
		"POSTGRES_ADMIN_USER", "POSTGRES_ADMIN_PASSWORD", "POSTGRES_ADMIN_DB",
		"POSTGRES_LOGIN_USER", "WORKSPACE_POSTGRES_INTERNAL_USER",
	}
	cacheKeys = []string{
		"LOCAL_REDIS_SCALE", "REDIS_HOST", "REDIS_PORT", "REDIS_PASSWORD", "REDIS_TLS_ENABLED", "REDIS_TLS_CA",
	}
	routerKeys = []string{
		"ROUTER_SSL_AUTOGENERATE", "ROUTER_SSL_CERTIFICATE_PATH", "ROUTER_SSL_CERTIFICATE_KEY_PATH",
	}
)

// kv is one assignment to make; an empty value with unset true comments the
// key out instead.
type kv struct {
	key, value string
	unset      bool
}

func set(key, value string) kv { return kv{key: key, value: value} }
func unset(key string) kv      { return kv{key: key, unset: true} }

// editor applies the wizard's answers to a parsed customer.env and collects
// every problem as a failed check.
type editor struct {
	f       *envfile.File
	orig    *envfile.File // the package as uploaded (after the rename), never edited
	src     []byte
	results []check.Result
	touched []string // every key set or commented out, in order
}

// editorOutput is what the answers place in certs/ besides customer.env.
type editorOutput struct {
	pgCA, redisCA, gcsKey, caBundle string
	routerCert                      bool
}

// run applies every step's answers, the Advanced settings last so that a
// free setting cannot silently take a key another step writes.
func (e *editor) run(st wizard.State) editorOutput {
	var out editorOutput
	e.domain(st.Domain)
	out.pgCA = e.database(st.Database)
	out.redisCA = e.cache(st.Cache)
	out.routerCert = e.router(st.TLS)
	out.gcsKey = e.buckets(st.Buckets)
	out.caBundle = e.advanced(st.Advanced)
	return out
}

func (e *editor) mark(key string) {
	if !slices.Contains(e.touched, key) {
		e.touched = append(e.touched, key)
	}
}

func (e *editor) fail(id, field, msg, hint string) {
	e.results = append(e.results, check.Result{Step: "install", ID: id, Status: check.Fail, Field: field,
		Measured: "missing", Required: "set", Message: msg, Hint: hint})
}

// refuse records a value that cannot be written into customer.env.
func (e *editor) refuse(id, field string, err error, hint string) {
	e.results = append(e.results, check.Result{Step: "install", ID: id, Status: check.Fail, Field: field,
		Measured: "cannot be written safely", Required: "a value customer.env carries unchanged", Message: sentence(err), Hint: hint})
}

// apply sets or comments out each key in order. When the block is active
// in the other mode (scaleKey reads something else than wantScale), every
// active key of the block is commented out first, so that Set brings back
// the package's commented-out block for this mode instead of overwriting
// the other one: that is the toggle CARTO's docs ask the admin to do by
// hand.
func (e *editor) apply(block []string, scaleKey, wantScale string, kvs []kv) {
	if cur, ok := e.f.Get(scaleKey); ok && scaleKey != "" && cur != wantScale {
		for _, k := range block {
			e.mark(k)
			if err := e.f.Comment(k); err != nil {
				e.fail("install.customer_env", "customer_env", sentence(err), "Edit that line of the uploaded customer.env so that it holds one assignment.")
			}
		}
	}
	for _, a := range kvs {
		e.mark(a.key)
		var err error
		if a.unset {
			err = e.f.Comment(a.key)
		} else {
			err = e.f.Set(a.key, a.value)
		}
		if err != nil {
			e.refuse("install.customer_env."+strings.ToLower(a.key), fieldOf(a.key), err,
				"Change the value in the wizard; it cannot be written to customer.env safely.")
		}
	}
}

// packageValue returns the value the uploaded package gives key for a
// block: the active value when the block is active, else the value of its
// first commented-out assignment that is not a placeholder.
func (e *editor) packageValue(key string, blockActive bool) string {
	if blockActive {
		if v, ok := e.orig.Get(key); ok && !strings.Contains(v, placeholderValue) {
			return v
		}
		return ""
	}
	return commentedValue(e.src, key)
}

// commentedValue finds "#KEY=value" or "# KEY=value" and returns the value
// as Compose would read it uncommented, skipping placeholders.
func commentedValue(src []byte, key string) string {
	sc := bufio.NewScanner(bytes.NewReader(src))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		rest, ok := strings.CutPrefix(line, "#")
		if !ok {
			continue
		}
		rest = strings.TrimSpace(rest)
		if !strings.HasPrefix(rest, key+"=") {
			continue
		}
		f, err := envfile.Parse([]byte(rest + "\n"))
		if err != nil {
			continue
		}
		if v, ok := f.Get(key); ok && v != "" && !strings.Contains(v, placeholderValue) {
			return v
		}
	}
	return ""
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

// domain sets SELFHOSTED_DOMAIN.
func (e *editor) domain(d wizard.DomainInput) {
	if d.Domain == "" {
		e.fail("install.domain", "domain", "No domain is set for CARTO.", "Enter the domain in the domain step.")
		return
	}
	e.apply(nil, "", "", []kv{set("SELFHOSTED_DOMAIN", d.Domain)})
}

// database writes the embedded or the external PostgreSQL block.
func (e *editor) database(db wizard.DatabaseInput) (caPEM string) {
	scale, _ := e.orig.Get("LOCAL_POSTGRES_SCALE")
	localActive := scale != "0"
	switch db.Mode {
	case wizard.ModeEmbedded:
		pv := func(k string) string { return e.packageValue(k, localActive) }
		wsPass := firstNonEmpty(db.WorkspacePassword, pv("WORKSPACE_POSTGRES_PASSWORD"))
		adminPass := firstNonEmpty(db.AdminPassword, pv("POSTGRES_ADMIN_PASSWORD"))
		if wsPass == "" {
			e.fail("install.database.workspace_password", "workspace_password",
				"The customer package has no password for the embedded database's workspace user.",
				"Enter a workspace password in the database step.")
		}
		kvs := []kv{
			set("LOCAL_POSTGRES_SCALE", "1"),
			set("WORKSPACE_POSTGRES_HOST", embeddedPGHost),
			set("WORKSPACE_POSTGRES_PORT", embeddedPGPort),
			set("WORKSPACE_POSTGRES_USER", firstNonEmpty(db.WorkspaceUser, pv("WORKSPACE_POSTGRES_USER"), "workspace_admin")),
		}
		if wsPass != "" {
			kvs = append(kvs, set("WORKSPACE_POSTGRES_PASSWORD", wsPass))
		}
		kvs = append(kvs,
			set("WORKSPACE_POSTGRES_DB", firstNonEmpty(db.WorkspaceDatabase, pv("WORKSPACE_POSTGRES_DB"), "workspace")),
			set("WORKSPACE_POSTGRES_SSL_ENABLED", "false"),
			set("WORKSPACE_POSTGRES_SSL_MODE", "disable"),
			unset("WORKSPACE_POSTGRES_SSL_CA"),
			set("POSTGRES_ADMIN_USER", firstNonEmpty(db.AdminUser, pv("POSTGRES_ADMIN_USER"), "postgres")),
		)
		// An empty admin password is refused by PostChecks with
		// install.sh's own message.
		if adminPass != "" {
			kvs = append(kvs, set("POSTGRES_ADMIN_PASSWORD", adminPass))
		}
		kvs = append(kvs,
			set("POSTGRES_ADMIN_DB", firstNonEmpty(db.AdminDatabase, pv("POSTGRES_ADMIN_DB"), "postgres")),
			unset("POSTGRES_LOGIN_USER"), unset("WORKSPACE_POSTGRES_INTERNAL_USER"),
		)
		e.apply(databaseKeys, "LOCAL_POSTGRES_SCALE", "1", kvs)
		return ""
	case wizard.ModeExternal:
		for _, r := range []struct{ v, field, what string }{
			{db.Host, "host", "host"},
			{db.AdminUser, "admin_user", "admin user"},
			{db.WorkspaceUser, "workspace_user", "workspace user"},
			{db.WorkspacePassword, "workspace_password", "workspace password"},
		} {
			if r.v == "" {
				e.fail("install.database."+r.field, r.field, "The external database has no "+r.what+".",
					"Enter the "+r.what+" in the database step.")
			}
		}
		port := db.Port
		if port == 0 {
			port = 5432
		}
		mode := "disable"
		if db.SSL {
			mode = firstNonEmpty(db.SSLMode, "require")
		}
		kvs := []kv{
			set("LOCAL_POSTGRES_SCALE", "0"),
			set("WORKSPACE_POSTGRES_HOST", db.Host),
			set("WORKSPACE_POSTGRES_PORT", strconv.Itoa(port)),
			set("WORKSPACE_POSTGRES_USER", db.WorkspaceUser),
			set("WORKSPACE_POSTGRES_PASSWORD", db.WorkspacePassword),
			set("WORKSPACE_POSTGRES_DB", firstNonEmpty(db.WorkspaceDatabase, "workspace")),
			set("WORKSPACE_POSTGRES_SSL_ENABLED", strconv.FormatBool(db.SSL)),
			set("WORKSPACE_POSTGRES_SSL_MODE", mode),
		}
		if db.SSL && db.CAPEM != "" {
			caPEM = db.CAPEM
			kvs = append(kvs, set("WORKSPACE_POSTGRES_SSL_CA", containerCerts+PostgresCAFile))
		} else {
			kvs = append(kvs, unset("WORKSPACE_POSTGRES_SSL_CA"))
		}
		kvs = append(kvs,
			set("POSTGRES_ADMIN_USER", db.AdminUser),
			set("POSTGRES_ADMIN_PASSWORD", db.AdminPassword),
			set("POSTGRES_ADMIN_DB", firstNonEmpty(db.AdminDatabase, "postgres")),
		)
		if az, ok := dbcheck.AzureLogins(db.AdminUser, db.WorkspaceUser); ok {
			kvs = append(kvs, set("POSTGRES_LOGIN_USER", az.PostgresLoginUser),
				set("WORKSPACE_POSTGRES_INTERNAL_USER", az.WorkspacePostgresInternalUser))
		} else {
			kvs = append(kvs, unset("POSTGRES_LOGIN_USER"), unset("WORKSPACE_POSTGRES_INTERNAL_USER"))
		}
		e.apply(databaseKeys, "LOCAL_POSTGRES_SCALE", "0", kvs)
		return caPEM
	}
	e.fail("install.database.mode", "mode", fmt.Sprintf("The database mode %q is neither embedded nor external.", db.Mode),
		"Choose the embedded or an external database in the database step.")
	return ""
}

// cache writes the embedded or the external Redis/Valkey block. An unset
// mode keeps the package's choice (the embedded cache).
func (e *editor) cache(c wizard.CacheInput) (caPEM string) {
	switch c.Mode {
	case "":
		return ""
	case wizard.ModeEmbedded:
		e.apply(cacheKeys, "LOCAL_REDIS_SCALE", "1", []kv{
			set("LOCAL_REDIS_SCALE", "1"),
			set("REDIS_HOST", embeddedRedis),
			set("REDIS_PORT", embeddedRedisPort),
			unset("REDIS_PASSWORD"),
			set("REDIS_TLS_ENABLED", "false"),
			unset("REDIS_TLS_CA"),
		})
		return ""
	case wizard.ModeExternal:
		if c.Host == "" {
			e.fail("install.cache.host", "cache_host", "The external cache has no host.", "Enter the cache host in the database step.")
		}
		port := c.Port
		if port == 0 {
			port = 6379
		}
		kvs := []kv{
			set("LOCAL_REDIS_SCALE", "0"),
			set("REDIS_HOST", c.Host),
			set("REDIS_PORT", strconv.Itoa(port)),
		}
		if c.Password != "" {
			kvs = append(kvs, set("REDIS_PASSWORD", c.Password))
		} else {
			kvs = append(kvs, unset("REDIS_PASSWORD"))
		}
		kvs = append(kvs, set("REDIS_TLS_ENABLED", strconv.FormatBool(c.TLS)))
		if c.TLS && c.CAPEM != "" {
			caPEM = c.CAPEM
			kvs = append(kvs, set("REDIS_TLS_CA", containerCerts+RedisCAFile))
		} else {
			kvs = append(kvs, unset("REDIS_TLS_CA"))
		}
		e.apply(cacheKeys, "LOCAL_REDIS_SCALE", "0", kvs)
		return caPEM
	}
	e.fail("install.cache.mode", "cache_mode", fmt.Sprintf("The cache mode %q is neither embedded nor external.", c.Mode),
		"Choose the embedded or an external cache in the database step.")
	return ""
}

// router points router-http at the certificate the install places in
// certs/, or lets it generate one when there is none.
func (e *editor) router(t wizard.TLSInput) bool {
	if t.CertPEM == "" || t.KeyPEM == "" {
		e.apply(routerKeys, "ROUTER_SSL_AUTOGENERATE", "1", []kv{
			set("ROUTER_SSL_AUTOGENERATE", "1"),
			unset("ROUTER_SSL_CERTIFICATE_PATH"),
			unset("ROUTER_SSL_CERTIFICATE_KEY_PATH"),
		})
		return false
	}
	e.apply(routerKeys, "ROUTER_SSL_AUTOGENERATE", "0", []kv{
		set("ROUTER_SSL_AUTOGENERATE", "0"),
		set("ROUTER_SSL_CERTIFICATE_PATH", routerCerts+RouterCertFile),
		set("ROUTER_SSL_CERTIFICATE_KEY_PATH", routerCerts+RouterKeyFile),
	})
	return true
}

// buckets writes the custom bucket variables; CARTO-managed buckets keep
// the package's values.
func (e *editor) buckets(b wizard.BucketsInput) (gcsKey string) {
	switch b.Mode {
	case "", wizard.BucketsCartoManaged:
		return ""
	case wizard.BucketsGCS, wizard.BucketsS3, wizard.BucketsAzure:
	default:
		e.fail("install.buckets.mode", "provider", fmt.Sprintf("The bucket provider %q is not known.", b.Mode),
			"Choose CARTO-managed buckets, GCS, S3 or Azure in the buckets step.")
		return ""
	}
	if b.Imports.Name == "" || b.Thumbnails.Name == "" {
		e.fail("install.buckets.names", "imports_bucket", "The imports and thumbnails buckets must both be named.",
			"Enter both bucket names in the buckets step.")
		return ""
	}
	vars := bucketEnv(b, containerCerts+BucketKeyFile)
	var kvs []kv
	for _, k := range sortedKeys(vars) {
		kvs = append(kvs, set(k, vars[k]))
	}
	e.apply(nil, "", "", kvs)
	if b.Mode == wizard.BucketsGCS {
		return b.GCSKeyJSON
	}
	return ""
}

// advanced writes the Advanced settings: only what the admin filled in,
// so that a setting left empty stays as the package (or a hand edit) has
// it. It returns the CA bundle to place in certs/.
func (e *editor) advanced(a wizard.AdvancedInput) (caBundle string) {
	var kvs []kv
	for _, p := range a.ProxyKeys() {
		if p[1] != "" {
			kvs = append(kvs, set(p[0], p[1]))
		}
	}
	if strings.TrimSpace(a.ExtraCAPEM) != "" {
		caBundle = a.ExtraCAPEM
		kvs = append(kvs, set(wizard.KeyNodeExtraCACerts, containerCerts+ExtraCAFile))
	}
	if a.SkipTLSVerify {
		kvs = append(kvs, set(wizard.KeyNodeTLSRejectUnauth, "0"))
	}
	if a.GoogleMapsAPIKey != "" {
		kvs = append(kvs, set(wizard.KeyGoogleMapsAPIKey, a.GoogleMapsAPIKey))
	}
	if a.BigQueryOAuthClientID != "" {
		kvs = append(kvs, set(wizard.KeyBigQueryOAuthClientID, a.BigQueryOAuthClientID),
			set(wizard.KeyBigQueryOAuthSecret, a.BigQueryOAuthClientSecret),
			set(wizard.KeyReactAppBigQueryOAuth, "true"))
	}
	e.apply(nil, "", "", kvs)
	stepKeys := StepKeys()
	for i, v := range a.Extra {
		if slices.Contains(e.touched, v.Key) || slices.Contains(stepKeys, v.Key) {
			e.results = append(e.results, check.Result{Step: "install", ID: "install.advanced.extra." + strings.ToLower(v.Key),
				Status: check.Fail, Field: "advanced." + wizard.ExtraField(i, false), Measured: "set by the wizard", Required: "a key no step writes",
				Message: v.Key + " is written by another step of the wizard; a further setting cannot change it.",
				Hint:    "Remove it from the further settings and set it in its own step."})
			continue
		}
		e.mark(v.Key)
		if err := e.f.Set(v.Key, v.Value); err != nil {
			e.refuse("install.advanced.extra."+strings.ToLower(v.Key), "advanced."+wizard.ExtraField(i, true), err,
				"Change the value in the Advanced settings step; it cannot be written to customer.env safely.")
		}
	}
	return caBundle
}

// keyFields are the wizard's form fields the customer.env keys of the
// database, cache and domain blocks come from.
var keyFields = map[string]string{
	"SELFHOSTED_DOMAIN":                wizard.FieldDomain,
	"LOCAL_POSTGRES_SCALE":             wizard.FieldDBMode,
	"WORKSPACE_POSTGRES_HOST":          dbcheck.FieldHost,
	"WORKSPACE_POSTGRES_PORT":          dbcheck.FieldPort,
	"WORKSPACE_POSTGRES_USER":          dbcheck.FieldWorkspaceUser,
	"WORKSPACE_POSTGRES_PASSWORD":      "workspace_password",
	"WORKSPACE_POSTGRES_DB":            dbcheck.FieldWorkspaceDatabase,
	"WORKSPACE_POSTGRES_SSL_ENABLED":   dbcheck.FieldSSLMode,
	"WORKSPACE_POSTGRES_SSL_MODE":      dbcheck.FieldSSLMode,
	"WORKSPACE_POSTGRES_SSL_CA":        dbcheck.FieldCA,
	"POSTGRES_ADMIN_USER":              dbcheck.FieldAdminUser,
	"POSTGRES_ADMIN_PASSWORD":          dbcheck.FieldAdminPassword,
	"POSTGRES_ADMIN_DB":                dbcheck.FieldAdminDatabase,
	"POSTGRES_LOGIN_USER":              dbcheck.FieldAdminUser,
	"WORKSPACE_POSTGRES_INTERNAL_USER": dbcheck.FieldWorkspaceUser,
	"LOCAL_REDIS_SCALE":                wizard.FieldCacheMode,
	"REDIS_HOST":                       "cache_host",
	"REDIS_PORT":                       wizard.FieldCachePort,
	"REDIS_PASSWORD":                   "cache_password",
	"REDIS_TLS_ENABLED":                "cache_tls",
	"REDIS_TLS_CA":                     "cache_ca",
}

// fieldOf names the wizard field a customer.env key comes from, for
// rendering a refusal next to it (and, through the answers file's paths,
// for naming the answers field on the command line).
func fieldOf(key string) string {
	if f, ok := keyFields[key]; ok {
		return f
	}
	switch {
	case strings.HasSuffix(key, "_PROXY"):
		return "advanced." + strings.ToLower(key)
	case key == wizard.KeyGoogleMapsAPIKey:
		return "advanced.google_maps_api_key"
	case key == wizard.KeyBigQueryOAuthClientID:
		return "advanced.bigquery_oauth_client_id"
	case key == wizard.KeyBigQueryOAuthSecret:
		return "advanced.bigquery_oauth_client_secret"
	case strings.HasSuffix(key, "SECRETACCESSKEY"):
		return buckets.FieldS3Secret
	case strings.HasSuffix(key, "ACCESSKEYID"):
		return buckets.FieldS3KeyID
	case strings.HasSuffix(key, "STORAGE_ACCESSKEY"):
		return buckets.FieldAzKey
	case strings.HasSuffix(key, "STORAGE_ACCOUNT"):
		return buckets.FieldAzAccount
	case strings.HasSuffix(key, "REGION"):
		return buckets.FieldS3Region
	case strings.HasSuffix(key, "ENDPOINT"):
		return buckets.FieldS3Endpoint
	case strings.HasSuffix(key, "PROJECTID"):
		return buckets.FieldGCSProject
	case strings.HasPrefix(key, "WORKSPACE_THUMBNAILS_"):
		return buckets.FieldThumbnails
	case strings.HasPrefix(key, "WORKSPACE_IMPORTS_") || strings.HasPrefix(key, "IMPORT_"):
		return buckets.FieldImports
	}
	return strings.ToLower(key)
}

// sentence turns an error into a sentence for a check result.
func sentence(err error) string {
	s := err.Error()
	if s == "" {
		return s
	}
	s = strings.ToUpper(s[:1]) + s[1:]
	if !strings.HasSuffix(s, ".") {
		s += "."
	}
	return s
}
