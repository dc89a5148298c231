package bundle

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/carto-setup/carto-setup/internal/demo/release"
	"github.com/carto-setup/carto-setup/internal/envfile"
	"github.com/carto-setup/carto-setup/internal/installsh"
	"github.com/carto-setup/carto-setup/internal/redact"
	"github.com/carto-setup/carto-setup/internal/redact/redacttest"
	"github.com/carto-setup/carto-setup/internal/wizard"
)

// images are image references as customer.env and .env carry them; the
// bundle must never mask one.
var images = []string{
	"VALKEY_DOCKER_IMAGE=gcr.io/carto-onprem-artifacts/valkey:2026.8.11",
	"VALKEY_SENTINEL_DOCKER_IMAGE=gcr.io/carto-onprem-artifacts/valkey-sentinel:2026.8.11",
	"ACCOUNTS_MIGRATIONS_DOCKER_IMAGE=gcr.io/carto-onprem-artifacts/accounts-migrations:2026.8.11",
}

// TestPropertyBundleShowsNoSecret builds support bundles from states whose
// every registered secret has a random hostile value, a customer.env (and
// the .env install.sh makes of it) with random secrets under
// secret-looking keys (*PASSWD*, KEY: value, any quoting), and container
// logs that print every secret in every carrier shape. No file of the
// archive (the manifest and the redaction report included) may show a
// secret, and every image reference must stay readable.
func TestPropertyBundleShowsNoSecret(t *testing.T) {
	t.Parallel()
	const cases = 1000 // each with 13 or 14 secrets: about 13,000 secret values
	seed := rand.Uint64()
	g := redacttest.New(seed)
	dir := filepath.Join(t.TempDir(), "release")
	if err := release.Write(dir, "2026.8.11"); err != nil {
		t.Fatal(err)
	}
	envTpl, err := os.ReadFile(filepath.Join(dir, "env.tpl"))
	if err != nil {
		t.Fatal(err)
	}
	base := string(release.SampleCustomerEnv("carto.example.com")) + strings.Join(images, "\n") + "\n"
	for c := range cases {
		var st wizard.State
		st.Database.Mode = wizard.ModeExternal
		secrets := g.FillState(&st)
		customerEnv := base
		for _, key := range []string{"POSTGRES_ADMIN_PASSWORD", "LEGACY_DB_PASSWD", "PURGE_SECRET", "GCS_CREDENTIAL", "AT_TOKENLESS_DEFAULT_TOKEN"} {
			v := g.Password()
			q, err := envfile.Quote(v)
			if err != nil {
				continue // no spelling in an env file means this value
			}
			sep := []string{"=", ": ", " = "}[g.Intn(3)]
			customerEnv += []string{"", "# "}[g.Intn(2)] + key + sep + q + "\n"
			secrets = append(secrets, v)
		}
		stateJSON, err := StateJSON(st)
		if err != nil {
			t.Fatal(err)
		}
		var logs strings.Builder
		for _, s := range secrets {
			for _, l := range g.SomeCarriers(s, 5) {
				logs.WriteString("2026-03-01T00:00:00Z " + l + "\n")
			}
		}
		b, err := Build([]File{
			{Name: "wizard-state.json", Data: stateJSON},
			{Name: "release/customer.env", Data: []byte(customerEnv), Env: true},
			{Name: "release/.env", Data: installsh.DotEnv([]byte(customerEnv), []byte("2026.8.11\n"), envTpl), Env: true},
			{Name: "release/key.json", Data: []byte(st.Package.KeyJSON)},
			{Name: "logs/workspace-api.log", Data: []byte(logs.String())},
		}, StateSecrets(st), "test", time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC))
		if err != nil {
			t.Fatal(err)
		}
		files := extract(t, b)
		checkOwnFiles(t, files, &st, "test", append(append([]string{}, customerEnv), logs.String(), string(stateJSON)))
		for name, data := range files {
			if name == ManifestFile || name == RedactionFile {
				continue // checked field by field
			}
			if leaked := redacttest.Shown(data, secrets); leaked != nil {
				t.Fatalf("seed %d case %d: %s shows %q:\n%s", seed, c, name, leaked, data)
			}
		}
		for _, image := range images {
			if redacttest.Shown(image, secrets) != nil {
				continue // a secret that happens to be part of the reference
			}
			for _, name := range []string{"release/customer.env", "release/.env"} {
				if !strings.Contains(files[name], image) {
					t.Fatalf("seed %d case %d: %s masks the image reference %s", seed, c, name, image)
				}
			}
		}
		if len(b.Redactions()) == 0 {
			t.Fatalf("seed %d case %d: an empty redaction report", seed, c)
		}
	}
	t.Logf("seed %d: %d bundles, 0 leaks, every image reference kept", seed, cases)
}

// checkOwnFiles checks the two files the bundle writes itself field by
// field, instead of looking for secrets in them: every field must be what
// the bundle's inputs determine without any secret value. The manifest names
// each file with its size, its SHA-256 and its count of redactions, which
// are checked against the files; the redaction report holds the fixed note
// and, per file, labels that are the registry's names of secrets, the PEM
// label, or "value of NAME" for a NAME the inputs use as a key. (Searching
// these files for secrets found only chance matches: a 4-hex-digit secret
// inside a SHA-256 of a masked file, seeds 11801372622283993617 case 422
// and 11677144205190538267 case 232; "crea" in "created"; `"S3` before "S3
// secret access key"; the last line of a PEM key, "of", in "value of".
// These were the unreproduced bundle "leaks": none carried a secret.)
func checkOwnFiles(t *testing.T, files map[string]string, st *wizard.State, version string, inputs []string) {
	t.Helper()
	var report struct {
		Note       string      `json:"note"`
		Redactions []Redaction `json:"redactions"`
	}
	strict := func(name string, v any) {
		dec := json.NewDecoder(strings.NewReader(files[name]))
		dec.DisallowUnknownFields()
		if err := dec.Decode(v); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	strict(RedactionFile, &report)
	if !strings.HasPrefix(report.Note, "Each entry counts the secrets masked") {
		t.Fatalf("%s: note %q", RedactionFile, report.Note)
	}
	labels := map[string]bool{redact.PEMBlock: true}
	for _, f := range st.SecretFields() {
		labels[f.What] = true
	}
	counts := map[string]int{}
	for _, r := range report.Redactions {
		if _, ok := files[r.File]; !ok || r.Count < 1 {
			t.Fatalf("%s: entry %+v", RedactionFile, r)
		}
		counts[r.File] += r.Count
		if labels[r.What] {
			continue
		}
		key, ok := strings.CutPrefix(r.What, "value of ")
		if !ok || !keyIn(key, inputs) {
			t.Fatalf("%s: the label %q is neither a registered secret nor the value of a key of the inputs", RedactionFile, r.What)
		}
	}
	var manifest struct {
		Generator string    `json:"generator"`
		Version   string    `json:"version"`
		Created   time.Time `json:"created"`
		Files     []struct {
			Name       string `json:"name"`
			Size       int    `json:"size"`
			SHA256     string `json:"sha256"`
			Redactions int    `json:"redactions"`
		} `json:"files"`
	}
	strict(ManifestFile, &manifest)
	if manifest.Generator != "carto-setup" || manifest.Version != version || manifest.Created.IsZero() || len(manifest.Files) != len(files)-1 {
		t.Fatalf("%s: %+v", ManifestFile, manifest)
	}
	for _, f := range manifest.Files {
		data, ok := files[f.Name]
		sum := sha256.Sum256([]byte(data))
		if !ok || f.Size != len(data) || f.SHA256 != hex.EncodeToString(sum[:]) || f.Redactions != counts[f.Name] {
			t.Fatalf("%s: entry %+v does not describe its file", ManifestFile, f)
		}
	}
}

// keyIn reports whether key is used as a key in one of the inputs: before
// =, : or a closing quote and a colon.
func keyIn(key string, inputs []string) bool {
	for _, in := range inputs {
		for _, form := range []string{key + "=", key + ":", key + " =", key + "\":", `"` + key + `":`} {
			if strings.Contains(in, form) {
				return true
			}
		}
	}
	return false
}
