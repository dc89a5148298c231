package k8sexport

import (
	"bytes"
	"encoding/base64"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"

	"github.com/carto-setup/carto-setup/internal/wizard"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// goldenFiles are the outputs a case is compared on, by golden file name.
func goldenFiles(res Result) map[string][]byte {
	files := map[string][]byte{
		ValuesFile:  res.Values,
		SecretsFile: res.Secrets,
		ReportFile:  res.Report,
		"kots.yaml": res.KOTS,
	}
	if len(res.Commands) > 0 {
		files["kubectl.sh"] = []byte(strings.Join(res.Commands, "\n") + "\n")
	}
	return files
}

func TestGolden(t *testing.T) {
	t.Parallel()
	for _, c := range exportCases(t) {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			res := c.export(t)
			dir := filepath.Join("testdata", "golden", c.name)
			if *update {
				if err := os.RemoveAll(dir); err != nil {
					t.Fatal(err)
				}
				if err := os.MkdirAll(dir, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			for name, got := range goldenFiles(res) {
				path := filepath.Join(dir, name)
				if *update {
					if err := os.WriteFile(path, got, 0o644); err != nil {
						t.Fatal(err)
					}
					continue
				}
				want, err := os.ReadFile(path)
				if err != nil {
					t.Fatalf("%v (run go test -run TestGolden -update to create it)", err)
				}
				if diff := cmp.Diff(string(want), string(got)); diff != "" {
					t.Errorf("%s differs from %s (-want +got):\n%s", name, path, diff)
				}
			}
			if !*update {
				entries, err := os.ReadDir(dir)
				if err != nil {
					t.Fatal(err)
				}
				if len(entries) != len(goldenFiles(res)) {
					t.Errorf("%s holds %d files, the export %d: stale golden files?", dir, len(entries), len(goldenFiles(res)))
				}
			}
		})
	}
}

// TestLossLines checks that each lossy case names its loss in the report,
// as one list item of the "What does not carry over" section.
func TestLossLines(t *testing.T) {
	t.Parallel()
	for _, c := range exportCases(t) {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			res := c.export(t)
			report := string(res.Report)
			_, losses, ok := strings.Cut(report, "\n## What does not carry over\n")
			if !ok {
				t.Fatalf("report has no loss section:\n%s", report)
			}
			for _, want := range c.wantLosses {
				if !strings.Contains(losses, want) {
					t.Errorf("loss section lacks %q:\n%s", want, losses)
				}
			}
			// Every loss in the result is in the report, and every
			// answer the mapping names is listed.
			for _, l := range res.Losses {
				if !strings.Contains(losses, "**["+string(l.Flavour)+"] "+l.Answer+"**") {
					t.Errorf("loss %s missing from the report", l.Answer)
				}
			}
			for _, m := range res.Mappings {
				if !strings.Contains(report, "- "+code(m.Answer)+": Helm ") {
					t.Errorf("answer %s missing from the mapping section", m.Answer)
				}
			}
		})
	}
}

// TestNoSecretInSharedOutputs greps every secret of every case, in the
// forms a leak would take (as is, base64, JSON- or YAML-escaped, one line
// of a PEM key), through customizations.yaml and REPORT.md, and with
// SecretRefs through customizations.secrets.yaml and the kubectl commands.
// It also checks the secrets are where they belong, so the grep cannot pass
// because nothing was exported.
func TestNoSecretInSharedOutputs(t *testing.T) {
	t.Parallel()
	for _, c := range exportCases(t) {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			res := c.export(t)
			shared := map[string]string{ValuesFile: string(res.Values), ReportFile: string(res.Report)}
			private := yamlDocStrings(t, res.KOTS)
			if c.opts.SecretRefs {
				shared[SecretsFile] = string(res.Secrets)
				shared["kubectl commands"] = strings.Join(res.Commands, "\n")
				for _, v := range res.SecretFiles {
					private = append(private, string(v))
				}
			} else {
				private = append(private, yamlDocStrings(t, res.Secrets)...)
			}
			secrets := append(c.st.Secrets(), c.adv.GoogleMapsAPIKey, "proxy-password-1")
			for _, e := range c.adv.ExtraEnv {
				if strings.Contains(e.Name, "SECRET") {
					secrets = append(secrets, e.Value)
				}
			}
			for _, s := range secrets {
				if s == "" {
					continue
				}
				for name, text := range shared {
					for _, form := range leakForms(s) {
						if strings.Contains(text, form) {
							t.Errorf("%s holds a secret (form %.20q…)", name, form)
						}
					}
				}
				for _, name := range []string{ValuesFile} {
					var doc any
					if err := yaml.Unmarshal([]byte(shared[name]), &doc); err != nil {
						t.Fatal(err)
					}
					for _, sc := range yamlStrings(doc) {
						if strings.Contains(sc, s) {
							t.Errorf("%s has a scalar holding a secret", name)
						}
					}
				}
			}
			// The exported secrets are in the private outputs (KOTS takes files,
			// the chart the router key, in base64).
			exported := []string{c.st.TLS.KeyPEM, c.adv.GoogleMapsAPIKey}
			if c.st.Database.Mode == wizard.ModeExternal {
				exported = append(exported, c.st.Database.WorkspacePassword)
			}
			if c.st.Cache.Mode == wizard.ModeExternal {
				exported = append(exported, c.st.Cache.Password)
			}
			for _, s := range exported {
				if s == "" {
					continue
				}
				if !slices.Contains(private, s) && !slices.Contains(private, base64.StdEncoding.EncodeToString([]byte(s))) {
					t.Errorf("secret %.8q… is in no private output: nothing exported?", s)
				}
			}
		})
	}
}

// leakForms are the shapes a secret takes when copied into a file.
func leakForms(s string) []string {
	forms := []string{s, base64.StdEncoding.EncodeToString([]byte(s))}
	if q := strconv.Quote(s); len(q) > 2 {
		forms = append(forms, q[1:len(q)-1])
	}
	if strings.HasPrefix(s, "-----BEGIN") {
		for _, line := range strings.Split(s, "\n") {
			if len(line) >= 16 && !strings.HasPrefix(line, "-----") {
				forms = append(forms, line)
			}
		}
	}
	return forms
}

func yamlDocStrings(t *testing.T, data []byte) []string {
	t.Helper()
	var doc any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	return yamlStrings(doc)
}

func yamlStrings(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case map[string]any:
		var out []string
		for k, x := range v {
			out = append(out, k)
			out = append(out, yamlStrings(x)...)
		}
		return out
	case []any:
		var out []string
		for _, x := range v {
			out = append(out, yamlStrings(x)...)
		}
		return out
	}
	return nil
}

// TestExportRefusesLeak shows the export's own check can fail: a password
// equal to a value that goes into customizations.yaml would be written there
// as that value, so the export refuses, naming the answer only.
func TestExportRefusesLeak(t *testing.T) {
	t.Parallel()
	st := baseState(t)
	st.Database.WorkspacePassword = st.Database.Host
	_, err := Export(st, Advanced{}, Options{})
	if err == nil || !strings.Contains(err.Error(), "database workspace password") {
		t.Fatalf("err = %v, want a refusal naming the database workspace password", err)
	}
	if strings.Contains(err.Error(), st.Database.Host) {
		t.Errorf("the error prints the secret: %v", err)
	}
}

func TestExportRefusesIncompleteAnswers(t *testing.T) {
	t.Parallel()
	st := baseState(t)
	st.Domain.Domain = " "
	st.Database.Host = ""
	st.TLS.CertPEM = "not a certificate"
	st.Buckets.Imports.Name = ""
	adv := Advanced{HTTPSProxy: "ftp://proxy.example.com", CABundlePEM: "junk", ExtraEnv: []EnvVar{{Name: "BAD NAME", Value: "x"}}}
	_, err := Export(st, adv, Options{})
	if err == nil {
		t.Fatal("incomplete answers exported")
	}
	for _, want := range []string{"domain: not answered", "database.host: not answered", "tls.cert_file: not a PEM certificate",
		"buckets.imports.bucket: not answered", "proxy.https_proxy: only http and https", "ca_bundle: not a PEM certificate",
		`extra_env: "BAD NAME" is not an environment variable name`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
	if strings.Contains(err.Error(), st.Database.WorkspacePassword) {
		t.Error("the error prints a secret")
	}
}

// TestExportIsDeterministic: exporting the same answers twice gives the same
// bytes, so re-exporting changes nothing on disk.
func TestExportIsDeterministic(t *testing.T) {
	t.Parallel()
	for _, c := range exportCases(t) {
		a, err := Export(c.st, c.adv, c.opts)
		if err != nil {
			t.Fatal(err)
		}
		b, err := Export(c.st, c.adv, c.opts)
		if err != nil {
			t.Fatal(err)
		}
		for name, x := range goldenFiles(a) {
			if !bytes.Equal(x, goldenFiles(b)[name]) {
				t.Errorf("%s/%s differs between two exports", c.name, name)
			}
		}
	}
}

func TestResultLossLines(t *testing.T) {
	t.Parallel()
	res := exportCases(t)[0].export(t) // embedded, self-signed, CARTO-managed
	kots := strings.Join(res.LossLines(FlavourKOTS), "\n")
	helm := strings.Join(res.LossLines(FlavourHelm), "\n")
	for _, want := range []string{"[KOTS] tls.mode: KOTS has no self-signed option", "[Helm and KOTS] database.mode:", "[Helm and KOTS] package:"} {
		if !strings.Contains(kots, want) {
			t.Errorf("KOTS loss lines lack %q:\n%s", want, kots)
		}
	}
	if strings.Contains(helm, "[KOTS]") || !strings.Contains(helm, "[Helm and KOTS] database.mode:") {
		t.Errorf("Helm loss lines hold KOTS-only losses or lack shared ones:\n%s", helm)
	}
}
