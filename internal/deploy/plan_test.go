package deploy

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/carto-setup/carto-setup/internal/check"
	"github.com/carto-setup/carto-setup/internal/compose"
	"github.com/carto-setup/carto-setup/internal/demo/release"
	"github.com/carto-setup/carto-setup/internal/envfile"
	"github.com/carto-setup/carto-setup/internal/testenv"
	"github.com/carto-setup/carto-setup/internal/wizard"
	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// Fixed fake secrets, so that golden files are stable and the tests can
// look for them in what must not show them.
const (
	adminPW     = "Admin-PW-0123456789"
	workspacePW = "Workspace-PW-0123456789"
	redisPW     = "Redis-PW-0123456789"
	s3Secret    = "S3-Secret-0123456789abcdef"
	keyJSON     = `{"type":"service_account","project_id":"carto-tnt-onp-fixture","private_key_id":"0123456789abcdef0123456789abcdef01234567","private_key":"-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7FIXTUREFIXTURE\nQ2FydG9TZXR1cEZpeHR1cmVLZXlMaW5lVHdvRmFrZUZha2VGYWtlRmFrZUZha2U=\n-----END PRIVATE KEY-----\n","client_email":"serv-onp-fixture@carto-tnt-onp-fixture.iam.gserviceaccount.com"}` + "\n"
	certPEM     = "-----BEGIN CERTIFICATE-----\nMIIBfixturecertificate\n-----END CERTIFICATE-----\n"
	keyPEM      = "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgFIXTUREROUTERKEY\n-----END PRIVATE KEY-----\n"
	caPEM       = "-----BEGIN CERTIFICATE-----\nMIIBfixtureca\n-----END CERTIFICATE-----\n"
)

// packageEnv is the hand-written package-shaped customer.env.
func packageEnv(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("testdata/package.env")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// newRelease writes the stand-in release into a temporary directory.
func newRelease(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "carto-selfhosted")
	if err := release.Write(dir, "2026.8.11"); err != nil {
		t.Fatal(err)
	}
	return dir
}

func baseState(t *testing.T) wizard.State {
	st := wizard.State{}
	st.Package.CustomerEnv = packageEnv(t)
	st.Package.KeyJSON = keyJSON
	st.Domain.Domain = "carto.example.com"
	st.Database.Mode = wizard.ModeEmbedded
	st.TLS = wizard.TLSInput{Mode: wizard.TLSUpload, CertPEM: certPEM, KeyPEM: keyPEM}
	st.Buckets.Mode = wizard.BucketsCartoManaged
	return st
}

func externalDB(st *wizard.State) {
	st.Database = wizard.DatabaseInput{
		Mode: wizard.ModeExternal, Host: "db.example.com", Port: 6432,
		AdminUser: "carto_admin", AdminPassword: adminPW, AdminDatabase: "postgres",
		WorkspaceUser: "workspace_admin", WorkspacePassword: workspacePW, WorkspaceDatabase: "workspace",
		SSL: true, SSLMode: "verify-full", CAPEM: caPEM,
	}
}

// planCases are the golden cases: each changes baseState.
var planCases = []struct {
	name   string
	change func(*wizard.State)
}{
	{"embedded", func(*wizard.State) {}},
	{"external-db", externalDB},
	{"external-db-azure-no-ssl", func(st *wizard.State) {
		externalDB(st)
		st.Database.AdminUser = "carto_admin@myserver"
		st.Database.WorkspaceUser = "workspace_admin@myserver"
		st.Database.SSL, st.Database.SSLMode, st.Database.CAPEM = false, "", ""
	}},
	{"external-cache-s3", func(st *wizard.State) {
		externalDB(st)
		st.Cache = wizard.CacheInput{Mode: wizard.ModeExternal, Host: "redis.example.com", Port: 6380, Password: redisPW, TLS: true, CAPEM: caPEM}
		st.Buckets = wizard.BucketsInput{Mode: wizard.BucketsS3,
			Imports:    wizard.BucketInput{Name: "acme-carto-imports"},
			Thumbnails: wizard.BucketInput{Name: "acme-carto-thumbnails", Public: true},
			S3Region:   "eu-west-1", S3AccessKeyID: "AKIAFIXTURE0123", S3SecretAccessKey: s3Secret}
	}},
	{"gcs-self-signed-generated", func(st *wizard.State) {
		st.TLS = wizard.TLSInput{Mode: wizard.TLSSelfSigned}
		st.Buckets = wizard.BucketsInput{Mode: wizard.BucketsGCS,
			Imports:    wizard.BucketInput{Name: "acme-imports"},
			Thumbnails: wizard.BucketInput{Name: "acme-thumbnails", Public: true},
			GCSKeyJSON: keyJSON}
	}},
}

func TestNewPlanGolden(t *testing.T) {
	dir := newRelease(t)
	for _, tc := range planCases {
		t.Run(tc.name, func(t *testing.T) {
			st := baseState(t)
			tc.change(&st)
			p, err := NewPlan(st, dir)
			if err != nil {
				t.Fatalf("NewPlan: %v", err)
			}
			golden := filepath.Join("testdata", "golden", tc.name+".customer.env")
			got := p.CustomerEnv()
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if diff := cmp.Diff(string(want), string(got)); diff != "" {
				t.Errorf("customer.env differs from %s (-want +got):\n%s", golden, diff)
			}
		})
	}
}

// ownedKeys are every key the wizard may change.
func ownedKeys() []string {
	keys := slices.Concat([]string{"SELFHOSTED_DOMAIN"}, databaseKeys, cacheKeys, routerKeys)
	for _, mode := range []string{wizard.BucketsGCS, wizard.BucketsS3, wizard.BucketsAzure} {
		for k := range bucketEnv(wizard.BucketsInput{Mode: mode, S3Endpoint: "x", GCSProjectID: "p"}, "/k") {
			keys = append(keys, k)
		}
	}
	return keys
}

// assignmentRE matches an assignment line, active or commented out, with
// the key in group 2.
var assignmentRE = regexp.MustCompile(`^(\s*(?:#\s*)?(?:export\s+)?)([A-Za-z_][A-Za-z0-9_]*)(\s*[=:]\s*)(.*)$`)

// TestNewPlanKeepsTheRest checks that every line that does not assign an
// owned key (comments, blank lines, CARTO's keys) is kept byte for byte and
// in order, and that CARTO's keys read the same.
func TestNewPlanKeepsTheRest(t *testing.T) {
	dir := newRelease(t)
	owned := ownedKeys()
	notOwned := func(text string) []string {
		var out []string
		for _, l := range strings.Split(text, "\n") {
			if m := assignmentRE.FindStringSubmatch(l); m != nil && slices.Contains(owned, m[2]) {
				continue
			}
			out = append(out, l)
		}
		return out
	}
	for _, tc := range planCases {
		t.Run(tc.name, func(t *testing.T) {
			st := baseState(t)
			tc.change(&st)
			p, err := NewPlan(st, dir)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(notOwned(st.Package.CustomerEnv), notOwned(string(p.CustomerEnv()))); diff != "" {
				t.Errorf("lines outside the owned keys changed (-package +plan):\n%s", diff)
			}
			before, _ := envfile.Parse([]byte(st.Package.CustomerEnv))
			after, err := envfile.Parse(p.CustomerEnv())
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range before.Keys() {
				if slices.Contains(owned, k) {
					continue
				}
				v1, _ := before.Get(k)
				v2, _ := after.Get(k)
				if v1 != v2 {
					t.Errorf("%s changed from %q to %q", k, v1, v2)
				}
			}
		})
	}
}

// TestNewPlanValues checks the effective values Compose will read.
func TestNewPlanValues(t *testing.T) {
	dir := newRelease(t)
	tests := []struct {
		name   string
		change func(*wizard.State)
		want   map[string]string // "" with unset: the key must not be assigned
		unset  []string
	}{
		{"embedded keeps the package's local values", func(*wizard.State) {}, map[string]string{
			"SELFHOSTED_DOMAIN": "carto.example.com", "LOCAL_POSTGRES_SCALE": "1",
			"WORKSPACE_POSTGRES_HOST": "workspace-postgres", "WORKSPACE_POSTGRES_PASSWORD": "pkg-workspace-pw-FIXTURE-0005",
			"POSTGRES_ADMIN_PASSWORD": "pkg-admin-pw-FIXTURE-0006", "ROUTER_SSL_AUTOGENERATE": "0",
			"ROUTER_SSL_CERTIFICATE_PATH":     "/etc/nginx/ssl/" + RouterCertFile,
			"ROUTER_SSL_CERTIFICATE_KEY_PATH": "/etc/nginx/ssl/" + RouterKeyFile,
			"WORKSPACE_IMPORTS_BUCKET":        "carto-tnt-onp-fixture-client-storage",
		}, []string{"WORKSPACE_POSTGRES_SSL_CA", "POSTGRES_LOGIN_USER"}},
		{"external", externalDB, map[string]string{
			"LOCAL_POSTGRES_SCALE": "0", "WORKSPACE_POSTGRES_HOST": "db.example.com", "WORKSPACE_POSTGRES_PORT": "6432",
			"WORKSPACE_POSTGRES_USER": "workspace_admin", "WORKSPACE_POSTGRES_PASSWORD": workspacePW,
			"WORKSPACE_POSTGRES_DB": "workspace", "WORKSPACE_POSTGRES_SSL_ENABLED": "true",
			"WORKSPACE_POSTGRES_SSL_MODE": "verify-full", "WORKSPACE_POSTGRES_SSL_CA": "/usr/src/certs/postgresql-ssl-ca.crt",
			"POSTGRES_ADMIN_USER": "carto_admin", "POSTGRES_ADMIN_PASSWORD": adminPW, "POSTGRES_ADMIN_DB": "postgres",
		}, []string{"POSTGRES_LOGIN_USER", "WORKSPACE_POSTGRES_INTERNAL_USER"}},
		{"azure", func(st *wizard.State) {
			externalDB(st)
			st.Database.AdminUser, st.Database.WorkspaceUser = "carto_admin@srv", "workspace_admin@srv"
		}, map[string]string{
			"POSTGRES_ADMIN_USER": "carto_admin@srv", "POSTGRES_LOGIN_USER": "carto_admin",
			"WORKSPACE_POSTGRES_USER": "workspace_admin@srv", "WORKSPACE_POSTGRES_INTERNAL_USER": "workspace_admin",
		}, nil},
		{"external cache without password or CA", func(st *wizard.State) {
			st.Cache = wizard.CacheInput{Mode: wizard.ModeExternal, Host: "redis.example.com"}
		}, map[string]string{"LOCAL_REDIS_SCALE": "0", "REDIS_HOST": "redis.example.com", "REDIS_PORT": "6379", "REDIS_TLS_ENABLED": "false"},
			[]string{"REDIS_PASSWORD", "REDIS_TLS_CA"}},
		{"no certificate lets the router generate one", func(st *wizard.State) { st.TLS = wizard.TLSInput{} },
			map[string]string{"ROUTER_SSL_AUTOGENERATE": "1"},
			[]string{"ROUTER_SSL_CERTIFICATE_PATH", "ROUTER_SSL_CERTIFICATE_KEY_PATH"}},
		{"legacy POSTGRES_PASSWORD is renamed first", func(st *wizard.State) {
			st.Package.CustomerEnv = strings.Replace(st.Package.CustomerEnv, "POSTGRES_ADMIN_PASSWORD='pkg", "POSTGRES_PASSWORD='pkg", 1)
			externalDB(st)
		}, map[string]string{"POSTGRES_ADMIN_PASSWORD": adminPW}, []string{"POSTGRES_PASSWORD"}},
		{"azure buckets", func(st *wizard.State) {
			st.Buckets = wizard.BucketsInput{Mode: wizard.BucketsAzure, Imports: wizard.BucketInput{Name: "imports"},
				Thumbnails: wizard.BucketInput{Name: "thumbs", Public: true}, AzureStorageAccount: "acct", AzureAccessKey: "azure-key-0123456789"}
		}, map[string]string{
			"WORKSPACE_IMPORTS_PROVIDER": "azure-blob", "WORKSPACE_IMPORTS_BUCKET": "imports", "WORKSPACE_IMPORTS_PUBLIC": "false",
			"WORKSPACE_THUMBNAILS_BUCKET": "thumbs", "WORKSPACE_THUMBNAILS_PUBLIC": "true", "IMPORT_PROVIDER": "azure-blob",
			"IMPORT_STORAGE_ACCOUNT": "acct", "IMPORT_STORAGE_ACCESSKEY": "azure-key-0123456789",
		}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := baseState(t)
			tc.change(&st)
			p, err := NewPlan(st, dir)
			if err != nil {
				t.Fatal(err)
			}
			f, err := envfile.Parse(p.CustomerEnv())
			if err != nil {
				t.Fatal(err)
			}
			for k, want := range tc.want {
				if got, ok := f.Get(k); !ok || got != want {
					t.Errorf("%s = %q (set %v), want %q", k, got, ok, want)
				}
			}
			for _, k := range tc.unset {
				if got, ok := f.Get(k); ok {
					t.Errorf("%s = %q, want it unset", k, got)
				}
			}
		})
	}
}

// TestBlockSwitching switches the database block both ways, from a package
// whose local block is active and from one whose external block is.
func TestBlockSwitching(t *testing.T) {
	dir := newRelease(t)
	st := baseState(t)
	externalDB(&st)
	ext, err := NewPlan(st, dir)
	if err != nil {
		t.Fatal(err)
	}
	text := string(ext.CustomerEnv())
	for _, want := range []string{
		"# LOCAL_POSTGRES_SCALE=1\n# WORKSPACE_POSTGRES_HOST=workspace-postgres\n",
		"# POSTGRES_ADMIN_PASSWORD='pkg-admin-pw-FIXTURE-0006'\n",
		"LOCAL_POSTGRES_SCALE=0\nWORKSPACE_POSTGRES_HOST=db.example.com\nWORKSPACE_POSTGRES_PORT=6432\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("external customer.env lacks %q:\n%s", want, text)
		}
	}

	// Back to embedded, starting from the external file as the package.
	st2 := baseState(t)
	st2.Package.CustomerEnv = text
	emb, err := NewPlan(st2, dir)
	if err != nil {
		t.Fatal(err)
	}
	f, _ := envfile.Parse(emb.CustomerEnv())
	for k, want := range map[string]string{
		"LOCAL_POSTGRES_SCALE": "1", "WORKSPACE_POSTGRES_HOST": "workspace-postgres",
		"POSTGRES_ADMIN_PASSWORD": "pkg-admin-pw-FIXTURE-0006", "WORKSPACE_POSTGRES_PASSWORD": "pkg-workspace-pw-FIXTURE-0005",
	} {
		if got, _ := f.Get(k); got != want {
			t.Errorf("after switching back, %s = %q, want %q", k, got, want)
		}
	}
	if !strings.Contains(string(emb.CustomerEnv()), "# LOCAL_POSTGRES_SCALE=0\n# WORKSPACE_POSTGRES_HOST=db.example.com\n") {
		t.Errorf("the external block was not commented out:\n%s", emb.CustomerEnv())
	}
	// Switching back gives the package's local block as it was.
	orig := baseState(t)
	p0, _ := NewPlan(orig, dir)
	local := func(b []byte) string {
		s := string(b)
		i := strings.Index(s, "# Configuration for using a local postgres")
		j := strings.Index(s, "# Configuration for using an external postgres")
		// Values come back as envfile quotes them, which reads the same.
		return strings.ReplaceAll(s[i:j], "'", "")
	}
	if diff := cmp.Diff(local(p0.CustomerEnv()), local(emb.CustomerEnv())); diff != "" {
		t.Errorf("local block after a round trip differs (-direct +round trip):\n%s", diff)
	}
}

// TestDotEnvMatchesInstallSh runs the release's install.sh --ignore-checks
// on the planned customer.env and key.json and compares its .env and
// certs/key.json with the plan's.
func TestDotEnvMatchesInstallSh(t *testing.T) {
	bash := testenv.LookPath(t, "bash", "apt-get install bash")
	for _, tc := range planCases {
		t.Run(tc.name, func(t *testing.T) {
			dir := newRelease(t)
			st := baseState(t)
			tc.change(&st)
			p, err := NewPlan(st, dir)
			if err != nil {
				t.Fatal(err)
			}
			sh := newRelease(t)
			os.WriteFile(filepath.Join(sh, "customer.env"), p.CustomerEnv(), 0o600)
			os.WriteFile(filepath.Join(sh, "key.json"), []byte(keyJSON), 0o600)
			cmd := exec.Command(bash, "install.sh", "--ignore-checks")
			cmd.Dir = sh
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("install.sh: %v\n%s", err, out)
			}
			if err := ApplyWith(p, ApplyOptions{Now: time.Unix(0, 0)}); err != nil {
				t.Fatal(err)
			}
			for _, name := range []string{".env", "certs/key.json", "customer.env"} {
				want, _ := os.ReadFile(filepath.Join(sh, name))
				got, _ := os.ReadFile(filepath.Join(dir, name))
				if !bytes.Equal(want, got) {
					t.Errorf("%s differs from install.sh's:\n%s", name, cmp.Diff(string(want), string(got)))
				}
			}
		})
	}
}

func TestNewPlanRefuses(t *testing.T) {
	tests := []struct {
		name    string
		change  func(st *wizard.State, dir string)
		wantIDs []string
	}{
		{"no admin password", func(st *wizard.State, _ string) {
			externalDB(st)
			st.Database.AdminPassword = ""
		}, []string{"install.postgres_admin_password"}},
		{"package older than MIN_VERSION", func(_ *wizard.State, dir string) {
			os.WriteFile(filepath.Join(dir, "MIN_VERSION"), []byte("2027.1.1\n"), 0o644)
		}, []string{"install.min_version"}},
		{"no package version", func(st *wizard.State, _ string) {
			st.Package.CustomerEnv = strings.Replace(st.Package.CustomerEnv, "CARTO_SELFHOSTED_CUSTOMER_PACKAGE_VERSION=", "#X=", 1)
		}, []string{"install.package_version"}},
		{"a password with a line break", func(st *wizard.State, _ string) {
			externalDB(st)
			st.Database.AdminPassword = "two\nlines"
		}, []string{"install.customer_env.postgres_admin_password"}},
		{"external without host", func(st *wizard.State, _ string) {
			externalDB(st)
			st.Database.Host = ""
		}, []string{"install.database.host"}},
		{"no domain", func(st *wizard.State, _ string) { st.Domain.Domain = "" }, []string{"install.domain"}},
		{"no package", func(st *wizard.State, _ string) { st.Package = wizard.PackageInput{} }, []string{"install.package"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := newRelease(t)
			st := baseState(t)
			tc.change(&st, dir)
			_, err := NewPlan(st, dir)
			var re *RefusedError
			if !errors.As(err, &re) {
				t.Fatalf("NewPlan: %v, want a *RefusedError", err)
			}
			var failed []string
			for _, r := range re.Results {
				if r.Status == check.Fail {
					failed = append(failed, r.ID)
				}
			}
			for _, id := range tc.wantIDs {
				if !slices.Contains(failed, id) {
					t.Errorf("failed checks %v lack %s", failed, id)
				}
			}
			for _, s := range []string{adminPW, "two\nlines", "lines"} {
				if strings.Contains(err.Error(), s) {
					t.Errorf("the error shows the secret %q: %v", s, err)
				}
			}
		})
	}
}

func TestNewPlanWarnsOnEmbedded(t *testing.T) {
	p, err := NewPlan(baseState(t), newRelease(t))
	if err != nil {
		t.Fatal(err)
	}
	if w := check.Worst(p.Checks()); w != check.Warn {
		t.Errorf("worst check %s, want warn for the embedded database", w)
	}
}

func TestDiffMasksSecrets(t *testing.T) {
	dir := newRelease(t)
	for _, tc := range planCases {
		t.Run(tc.name, func(t *testing.T) {
			st := baseState(t)
			tc.change(&st)
			p, err := NewPlan(st, dir)
			if err != nil {
				t.Fatal(err)
			}
			diff := p.Diff()
			if len(diff) == 0 {
				t.Fatal("empty diff")
			}
			var text strings.Builder
			for _, l := range diff {
				text.WriteString(l.String() + "\n")
			}
			secrets := slices.Concat(st.Secrets(), []string{
				"pkg-admin-pw-FIXTURE-0006", "pkg-workspace-pw-FIXTURE-0005", "jwt-secret-FIXTURE-0001",
				"MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7FIXTUREFIXTURE", "FIXTUREROUTERKEY",
			})
			for _, s := range secrets {
				if strings.Contains(text.String(), s) {
					t.Errorf("the diff shows the secret %q:\n%s", s, text.String())
				}
			}
			if !strings.Contains(text.String(), "+SELFHOSTED_DOMAIN=carto.example.com") {
				t.Errorf("the diff lacks the domain change:\n%s", text.String())
			}
			if strings.Contains(text.String(), "PASSWORD") && !strings.Contains(text.String(), "****") {
				t.Errorf("no masked value in a diff with passwords:\n%s", text.String())
			}
		})
	}
}

func TestDiffAgainstCurrentFile(t *testing.T) {
	dir := newRelease(t)
	st := baseState(t)
	p, err := NewPlan(st, dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := ApplyWith(p, ApplyOptions{Now: time.Unix(0, 0)}); err != nil {
		t.Fatal(err)
	}
	p2, err := NewPlan(st, dir)
	if err != nil {
		t.Fatal(err)
	}
	if d := p2.Diff(); len(d) != 0 {
		t.Errorf("diff after applying the same plan: %v", d)
	}
	st.Domain.Domain = "other.example.com"
	p3, _ := NewPlan(st, dir)
	got := p3.Diff()
	want := []DiffLine{
		{Kind: DiffHunk, Text: "@@ -3,7 +3,7 @@"},
		{Kind: DiffContext, Old: 3, New: 3, Text: "CARTO_SELFHOSTED_CUSTOMER_PACKAGE_VERSION=2026.8.11"},
		{Kind: DiffContext, Old: 4, New: 4, Text: ""},
		{Kind: DiffContext, Old: 5, New: 5, Text: "# Instance"},
		{Kind: DiffRemoved, Old: 6, Text: "SELFHOSTED_DOMAIN=carto.example.com"},
		{Kind: DiffAdded, New: 6, Text: "SELFHOSTED_DOMAIN=other.example.com"},
		{Kind: DiffContext, Old: 7, New: 7, Text: "SELFHOSTED_TENANT_ID=onp-fixture"},
		{Kind: DiffContext, Old: 8, New: 8, Text: "SELFHOSTED_GCP_PROJECT_ID=carto-tnt-onp-fixture"},
		{Kind: DiffContext, Old: 9, New: 9, Text: "CARTO_SELFHOSTED_INSTANCE_ID=instance-0123456789abcdef"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Diff (-want +got):\n%s", diff)
	}
}

func TestFilesAndCommand(t *testing.T) {
	dir := newRelease(t)
	st := baseState(t)
	externalDB(&st)
	st.Cache = wizard.CacheInput{Mode: wizard.ModeExternal, Host: "r", TLS: true, CAPEM: caPEM}
	st.Buckets = wizard.BucketsInput{Mode: wizard.BucketsGCS, Imports: wizard.BucketInput{Name: "i"},
		Thumbnails: wizard.BucketInput{Name: "t"}, GCSKeyJSON: keyJSON}
	p, err := NewPlan(st, dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range p.Files() {
		got = append(got, f.Mode.String()+" "+f.Path+" "+map[bool]string{true: "secret", false: "public"}[f.Secret])
	}
	want := []string{
		"drwx------ certs public",
		"-rw------- certs/key.json secret",
		"-rw------- certs/" + RouterCertFile + " public",
		"-rw------- certs/" + RouterKeyFile + " secret",
		"-rw------- certs/postgresql-ssl-ca.crt public",
		"-rw------- certs/redis-tls-ca.crt public",
		"-rw------- certs/" + BucketKeyFile + " secret",
		"-rw------- key.json secret",
		"-rw------- customer.env secret",
		"-rw------- .env secret",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Files (-want +got):\n%s", diff)
	}
	tool := compose.Tool{Flavor: compose.Standalone, Path: "/usr/bin/docker-compose"}
	wantCmd := "/usr/bin/docker-compose --ansi never --project-name carto-selfhosted --file " + dir +
		"/docker-compose.yml --project-directory " + dir + " up -d --remove-orphans"
	if got := p.ComposeCommand(tool, "carto-selfhosted"); got != wantCmd {
		t.Errorf("ComposeCommand = %q, want %q", got, wantCmd)
	}
	if diff := cmp.Diff([]string{"router-http", "router-metrics", "http-cache", "notifier", "accounts-www",
		"workspace-www", "workspace-api", "workspace-subscriber", "workspace-migrations", "maps-api", "sql-worker",
		"cdn-invalidator-sub", "import-api", "import-worker", "lds-api", "workspace-postgres", "valkey"}, p.Services()); diff != "" {
		t.Errorf("Services (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]int{"workspace-postgres": 0, "valkey": 0}, p.Scales()); diff != "" {
		t.Errorf("Scales (-want +got):\n%s", diff)
	}
}

func TestApply(t *testing.T) {
	dir := newRelease(t)
	st := baseState(t)
	externalDB(&st)
	// An admin's earlier customer.env, to be backed up once.
	os.WriteFile(filepath.Join(dir, "customer.env"), []byte(st.Package.CustomerEnv), 0o644)
	os.MkdirAll(filepath.Join(dir, "certs"), 0o755)
	p, err := NewPlan(st, dir)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 22, 7, 15, 0, 0, time.UTC)
	if err := ApplyWith(p, ApplyOptions{Now: now}); err != nil {
		t.Fatal(err)
	}
	backupName := "customer.env.bak-20261122T071500"
	check := func(rel string, want os.FileMode) os.FileInfo {
		t.Helper()
		fi, err := os.Stat(filepath.Join(dir, rel))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s has mode %v, want %v", rel, fi.Mode().Perm(), want)
		}
		return fi
	}
	check("certs", 0o700)
	stats := map[string]os.FileInfo{}
	for _, f := range p.Files()[1:] {
		stats[f.Path] = check(f.Path, 0o600)
		data, _ := os.ReadFile(filepath.Join(dir, f.Path))
		if len(data) != f.Size {
			t.Errorf("%s has %d bytes, want %d", f.Path, len(data), f.Size)
		}
	}
	check(backupName, 0o600)
	if b, _ := os.ReadFile(filepath.Join(dir, backupName)); string(b) != st.Package.CustomerEnv {
		t.Error("the backup does not hold the previous customer.env")
	}

	// The same plan again, later: nothing is written, no second backup.
	if err := ApplyWith(p, ApplyOptions{Now: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	for path, before := range stats {
		after, _ := os.Stat(filepath.Join(dir, path))
		if !os.SameFile(before, after) || !after.ModTime().Equal(before.ModTime()) {
			t.Errorf("%s was rewritten by the second Apply", path)
		}
	}
	backups, _ := filepath.Glob(filepath.Join(dir, "customer.env.bak-*"))
	if len(backups) != 1 {
		t.Errorf("backups after two applies: %v, want one", backups)
	}

	// A changed plan backs up the applied customer.env.
	st.Domain.Domain = "new.example.com"
	p2, err := NewPlan(st, dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := ApplyWith(p2, ApplyOptions{Now: now.Add(2 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "customer.env.bak-20261122T091500"))
	if err != nil || !bytes.Equal(b, p.CustomerEnv()) {
		t.Errorf("second backup: %v, or it does not hold the first plan's customer.env", err)
	}
}

// TestPlanHostPorts: the ports preflight must find free are the ones the
// release publishes with the planned .env, CARTO's 80, 443 and 5447 unless
// the package moves them (the stand-in allows that, so tests can run beside
// whatever holds those ports).
func TestPlanHostPorts(t *testing.T) {
	dir := newRelease(t)
	p, err := NewPlan(baseState(t), dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := p.HostPorts(); !slices.Equal(got, []int{80, 443, 5447}) {
		t.Errorf("HostPorts = %v, want [80 443 5447]", got)
	}
	st := baseState(t)
	st.Package.CustomerEnv += "ROUTER_HTTP_PORT=18080\nROUTER_HTTPS_PORT=18443\nROUTER_METRICS_PORT=15447\n"
	if p, err = NewPlan(st, dir); err != nil {
		t.Fatal(err)
	}
	if got := p.HostPorts(); !slices.Equal(got, []int{15447, 18080, 18443}) {
		t.Errorf("HostPorts with moved ports = %v, want [15447 18080 18443]", got)
	}
}
