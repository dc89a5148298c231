package k8sexport

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"
	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/common/util"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/engine"

	"github.com/carto-setup/carto-setup/internal/testenv"
	"github.com/carto-setup/carto-setup/internal/wizard"
)

// renderChart renders testdata/chart with the values files in order, as
// "helm install -f a -f b" merges them, through Helm's own loader, schema
// validation and template engine in strict mode. It returns the data of the
// rendered ConfigMap: the customer.env variables the values become.
func renderChart(t *testing.T, files ...[]byte) (map[string]string, error) {
	t.Helper()
	ch, err := loader.Load(filepath.Join("testdata", "chart"))
	if err != nil {
		t.Fatal(err)
	}
	vals := map[string]any{}
	for _, f := range files {
		v, err := loader.LoadValues(bytes.NewReader(f))
		if err != nil {
			return nil, fmt.Errorf("load values: %w", err)
		}
		vals = loader.MergeMaps(vals, v)
	}
	top, err := util.ToRenderValuesWithSchemaValidation(ch, vals,
		common.ReleaseOptions{Name: "carto", Namespace: "carto", IsInstall: true}, nil, false)
	if err != nil {
		return nil, err
	}
	out, err := engine.Engine{Strict: true}.RenderWithContext(context.Background(), ch, top)
	if err != nil {
		return nil, err
	}
	var cm struct {
		Data map[string]string `yaml:"data"`
	}
	if err := yaml.Unmarshal([]byte(out["carto-export-check/templates/env.yaml"]), &cm); err != nil {
		return nil, fmt.Errorf("rendered manifest does not parse: %w", err)
	}
	return cm.Data, nil
}

// wantEnv is what the Docker install's customer.env holds for these answers,
// written from the answers directly (not through the export's code), so the
// render test compares the export with the install it comes from.
func wantEnv(st wizard.State, adv Advanced) map[string]string {
	env := map[string]string{"SELFHOSTED_DOMAIN": strings.TrimSpace(st.Domain.Domain)}
	db := st.Database
	if db.Mode == wizard.ModeEmbedded {
		env["LOCAL_POSTGRES_SCALE"] = "1"
	} else {
		ssl := db.SSL || (db.SSLMode != "" && db.SSLMode != "disable")
		port := db.Port
		if port == 0 {
			port = 5432
		}
		env["LOCAL_POSTGRES_SCALE"] = "0"
		env["WORKSPACE_POSTGRES_HOST"] = db.Host
		env["WORKSPACE_POSTGRES_PORT"] = strconv.Itoa(port)
		env["WORKSPACE_POSTGRES_USER"] = db.WorkspaceUser
		env["WORKSPACE_POSTGRES_DB"] = db.WorkspaceDatabase
		env["WORKSPACE_POSTGRES_PASSWORD"] = db.WorkspacePassword
		env["WORKSPACE_POSTGRES_SSL_ENABLED"] = strconv.FormatBool(ssl)
		if ssl && db.CAPEM != "" {
			env["WORKSPACE_POSTGRES_SSL_CA"] = db.CAPEM
		}
		if db.AdminUser != "" {
			env["POSTGRES_ADMIN_USER"] = db.AdminUser
		}
		if db.AdminPassword != "" {
			env["POSTGRES_ADMIN_PASSWORD"] = db.AdminPassword
		}
		if db.AdminDatabase != "" {
			env["POSTGRES_ADMIN_DB"] = db.AdminDatabase
		}
	}
	c := st.Cache
	if c.Mode != wizard.ModeExternal {
		env["LOCAL_REDIS_SCALE"] = "1"
	} else {
		port := c.Port
		if port == 0 {
			port = 6379
		}
		env["LOCAL_REDIS_SCALE"] = "0"
		env["REDIS_HOST"] = c.Host
		env["REDIS_PORT"] = strconv.Itoa(port)
		env["REDIS_TLS_ENABLED"] = strconv.FormatBool(c.TLS)
		if c.TLS && c.CAPEM != "" {
			env["REDIS_TLS_CA"] = c.CAPEM
		}
		if c.Password != "" {
			env["REDIS_PASSWORD"] = c.Password
		}
	}
	env["ROUTER_SSL_CERTIFICATE"] = st.TLS.CertPEM
	env["ROUTER_SSL_CERTIFICATE_KEY"] = st.TLS.KeyPEM
	bk := st.Buckets
	if provider, ok := map[string]string{wizard.BucketsGCS: "gcp", wizard.BucketsS3: "s3", wizard.BucketsAzure: "azure-blob"}[bk.Mode]; ok {
		env["WORKSPACE_IMPORTS_PROVIDER"] = provider
		env["WORKSPACE_THUMBNAILS_PROVIDER"] = provider
		env["WORKSPACE_IMPORTS_BUCKET"] = bk.Imports.Name
		env["WORKSPACE_IMPORTS_PUBLIC"] = strconv.FormatBool(bk.Imports.Public)
		env["WORKSPACE_THUMBNAILS_BUCKET"] = bk.Thumbnails.Name
		env["WORKSPACE_THUMBNAILS_PUBLIC"] = strconv.FormatBool(bk.Thumbnails.Public)
		switch bk.Mode {
		case wizard.BucketsGCS:
			project := bk.GCSProjectID
			if project == "" {
				var sa struct {
					ProjectID string `json:"project_id"`
				}
				_ = json.Unmarshal([]byte(bk.GCSKeyJSON), &sa)
				project = sa.ProjectID
			}
			env["WORKSPACE_IMPORTS_PROJECTID"] = project
			env["WORKSPACE_IMPORTS_KEYFILE_CONTENT"] = bk.GCSKeyJSON
		case wizard.BucketsS3:
			region := bk.S3Region
			if region == "" {
				region = "us-east-1"
			}
			env["WORKSPACE_IMPORTS_REGION"] = region
			env["WORKSPACE_IMPORTS_ACCESSKEYID"] = bk.S3AccessKeyID
			env["WORKSPACE_IMPORTS_SECRETACCESSKEY"] = bk.S3SecretAccessKey
			if bk.S3Endpoint != "" {
				env["WORKSPACE_IMPORTS_ENDPOINT"] = bk.S3Endpoint
				env["WORKSPACE_IMPORTS_FORCE_PATH_STYLE"] = "true"
			}
		case wizard.BucketsAzure:
			env["WORKSPACE_IMPORTS_STORAGE_ACCOUNT"] = bk.AzureStorageAccount
			env["WORKSPACE_IMPORTS_STORAGE_ACCESSKEY"] = bk.AzureAccessKey
		}
	}
	proxy := adv.HTTPSProxy
	if proxy == "" {
		proxy = adv.HTTPProxy
	}
	if proxy != "" {
		u, _ := parseProxy(proxy)
		port := u.Port()
		if port == "" {
			port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
		}
		env["HTTPS_PROXY"] = u.Scheme + "://" + u.Hostname() + ":" + port
		var excluded []string
		for _, x := range strings.Split(adv.NoProxy, ",") {
			if x = strings.TrimSpace(x); x != "" {
				excluded = append(excluded, x)
			}
		}
		env["NO_PROXY"] = strings.Join(excluded, ",")
	}
	if adv.CABundlePEM != "" {
		env["NODE_EXTRA_CA_CERTS_CONTENT"] = adv.CABundlePEM
	}
	if adv.GoogleMapsAPIKey != "" {
		env["GOOGLE_MAPS_API_KEY"] = adv.GoogleMapsAPIKey
	}
	extra := map[string]string{}
	for _, e := range adv.ExtraEnv {
		extra[e.Name] = e.Value
	}
	if id := extra["BIGQUERY_OAUTH2_CLIENT_ID"]; id != "" {
		env["BIGQUERY_OAUTH2_CLIENT_ID"] = id
		env["BIGQUERY_OAUTH2_CLIENT_SECRET"] = extra["BIGQUERY_OAUTH2_CLIENT_SECRET"]
	}
	return env
}

// TestHelmRender renders every case's values through Helm and compares the
// variables they become with the Docker install's. With SecretRefs, each
// "secret:NAME/KEY" the chart renders must be created by one of the kubectl
// commands from a file holding the right value.
func TestHelmRender(t *testing.T) {
	t.Parallel()
	for _, c := range exportCases(t) {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			res := c.export(t)
			got, err := renderChart(t, res.Values, res.Secrets)
			if err != nil {
				t.Fatalf("helm render: %v", err)
			}
			if c.opts.SecretRefs {
				created := kubectlSecrets(t, res)
				refs := 0
				for k, v := range got {
					if ref, ok := strings.CutPrefix(v, "secret:"); ok {
						val, ok := created[ref]
						if !ok {
							t.Errorf("%s references %s, which no kubectl command creates", k, ref)
						}
						got[k] = val
						refs++
					}
				}
				if refs == 0 {
					t.Error("SecretRefs export renders no reference")
				}
			}
			if diff := cmp.Diff(wantEnv(c.st, c.adv), got); diff != "" {
				t.Errorf("rendered variables differ from the install's (-want +got):\n%s", diff)
			}
		})
	}
}

// kubectlSecrets reads the export's kubectl commands the way kubectl would
// and returns "NAME/KEY" -> the content of the file the key is created from.
func kubectlSecrets(t *testing.T, res Result) map[string]string {
	t.Helper()
	read := func(path string) string {
		data, ok := res.SecretFiles[path]
		if !ok {
			t.Fatalf("a kubectl command reads %s, which the export does not write", path)
		}
		return string(data)
	}
	out := map[string]string{}
	for _, cmd := range res.Commands {
		args := strings.Fields(cmd)
		if len(args) < 5 || args[0] != "kubectl" || args[1] != "create" || args[2] != "secret" {
			t.Fatalf("not a kubectl create secret command: %q", cmd)
		}
		name := args[4]
		for _, a := range args[5:] {
			switch {
			case args[3] == "generic" && strings.HasPrefix(a, "--from-file="):
				key, path, _ := strings.Cut(strings.TrimPrefix(a, "--from-file="), "=")
				out[name+"/"+key] = read(path)
			case args[3] == "tls" && strings.HasPrefix(a, "--cert="):
				out[name+"/tls.crt"] = read(strings.TrimPrefix(a, "--cert="))
			case args[3] == "tls" && strings.HasPrefix(a, "--key="):
				out[name+"/tls.key"] = read(strings.TrimPrefix(a, "--key="))
			default:
				t.Fatalf("unexpected argument %q in %q", a, cmd)
			}
		}
	}
	return out
}

// TestHelmRenderCatchesWrongPaths shows the render test can fail: a
// misspelled key is refused by the chart's schema, a missing required value
// by the template, before any comparison.
func TestHelmRenderCatchesWrongPaths(t *testing.T) {
	t.Parallel()
	res, err := Export(baseState(t), Advanced{}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, from, to, wantErr string
	}{
		{"misspelled", "  host: db.example.com\n", "  hots: db.example.com\n", "hots"},
		{"missing required", "  host: db.example.com\n", "", "externalPostgresql.host is required"},
		{"misspelled section", "externalRedis:\n", "externalRedls:\n", "externalRedls"},
	} {
		values := strings.Replace(string(res.Values), tc.from, tc.to, 1)
		if values == string(res.Values) {
			t.Fatalf("%s: %q not found in the values", tc.name, tc.from)
		}
		_, err := renderChart(t, []byte(values), res.Secrets)
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("%s: render error = %v, want one naming %q", tc.name, err, tc.wantErr)
		}
	}
}

// TestProductionBinaryDoesNotLinkHelm: Helm is a test dependency only.
func TestProductionBinaryDoesNotLinkHelm(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	gobin := testenv.LookPath(t, "go", "install Go")
	cmd := exec.Command(gobin, "list", "-deps", "github.com/carto-setup/carto-setup/cmd/carto-setup")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "github.com/carto-setup/carto-setup/internal/wizard") {
		t.Fatalf("go list output does not look like the binary's dependencies:\n%.500s", out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(line, "helm.sh/") {
			t.Errorf("the production binary links %s", line)
		}
	}
}
