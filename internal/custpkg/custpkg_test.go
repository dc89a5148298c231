package custpkg

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"hash/crc32"
	"io/fs"
	"strings"
	"sync"
	"testing"

	"github.com/carto-setup/carto-setup/internal/check"
	"github.com/google/go-cmp/cmp"
)

const goodEnv = `# CARTO Self-Hosted customer package
SELFHOSTED_DOMAIN=carto3-onprem.lan
SELFHOSTED_TENANT_ID=onp-abc123
SELFHOSTED_GCP_PROJECT_ID=carto-tnt-onp-abc123
CARTO_SELFHOSTED_CUSTOMER_PACKAGE_VERSION=2026.4.2
CARTO_AUTH0_CLIENT_ID=client
CARTO_AUTH0_CUSTOM_DOMAIN=auth.carto.com
ACC_DOMAIN=accounts.carto.com
ACC_GCP_PROJECT_ID=carto-acc
ACC_GCP_PROJECT_REGION=us-east1
DO_API_DOMAIN=do.carto.com
DO_ASSETS_DOMAIN=do-assets.carto.com
# local postgres
LOCAL_POSTGRES_SCALE=1
POSTGRES_ADMIN_USER=postgres
POSTGRES_ADMIN_PASSWORD='r4nd0m'
LOCAL_REDIS_SCALE=1
`

var rel = Release{Version: "2026.4.24\n", MinVersion: "2026.4.1\n"}

var (
	keyOnce sync.Once
	rsaKey  *rsa.PrivateKey
)

func testKey(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	keyOnce.Do(func() {
		var err error
		if rsaKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
	})
	return rsaKey
}

func pkcs8PEM(t *testing.T) string {
	der, err := x509.MarshalPKCS8PrivateKey(testKey(t))
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

func keyJSON(t *testing.T, edit func(m map[string]any)) []byte {
	t.Helper()
	m := map[string]any{
		"type":           "service_account",
		"project_id":     "carto-tnt-onp-abc123",
		"private_key_id": "0123",
		"private_key":    pkcs8PEM(t),
		"client_email":   "onp-abc123@carto-tnt-onp-abc123.iam.gserviceaccount.com",
	}
	if edit != nil {
		edit(m)
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type entry struct {
	name  string
	data  []byte
	mode  fs.FileMode // 0 means a regular 0644 file
	flags uint16
	// lie, when set, stores data deflated but declares lie bytes
	// uncompressed (a zip bomb whose header understates its size).
	lie uint64
}

func makeZip(t *testing.T, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range entries {
		fh := &zip.FileHeader{Name: e.name, Method: zip.Deflate, Flags: e.flags}
		if e.mode != 0 {
			fh.SetMode(e.mode)
		} else {
			fh.SetMode(0o644)
		}
		if e.lie != 0 {
			var c bytes.Buffer
			fw, _ := flate.NewWriter(&c, flate.BestCompression)
			fw.Write(e.data)
			fw.Close()
			fh.CompressedSize64 = uint64(c.Len())
			fh.UncompressedSize64 = e.lie
			fh.CRC32 = crc32.ChecksumIEEE(e.data[:e.lie])
			w, err := zw.CreateRaw(fh)
			if err != nil {
				t.Fatal(err)
			}
			w.Write(c.Bytes())
			continue
		}
		w, err := zw.CreateHeader(fh)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(e.data)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestFromZipAccepts(t *testing.T) {
	key := keyJSON(t, nil)
	tests := []struct {
		name    string
		entries []entry
	}{
		{"top level", []entry{{name: "customer.env", data: []byte(goodEnv)}, {name: "key.json", data: key}}},
		{"one folder", []entry{{name: "pkg/", mode: fs.ModeDir | 0o755}, {name: "pkg/customer.env", data: []byte(goodEnv)},
			{name: "pkg/key.json", data: key}, {name: "pkg/README.txt", data: []byte("hi")}}},
		{"macOS metadata ignored", []entry{{name: "customer.env", data: []byte(goodEnv)}, {name: "key.json", data: key},
			{name: "__MACOSX/._customer.env", data: []byte{0, 5, 22, 7}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			z := makeZip(t, tt.entries...)
			files, err := FromZip(bytes.NewReader(z), int64(len(z)))
			if err != nil {
				t.Fatalf("FromZip: %v", err)
			}
			if string(files.CustomerEnv) != goodEnv || !bytes.Equal(files.KeyJSON, key) {
				t.Errorf("FromZip returned the wrong contents")
			}
		})
	}
}

func TestFromZipRejects(t *testing.T) {
	env := []byte(goodEnv)
	key := []byte(`{"type":"service_account"}`)
	inner := makeZip(t, entry{name: "customer.env", data: env})
	big := bytes.Repeat([]byte("A"), MaxFileSize+10)
	bomb := bytes.Repeat([]byte{0}, 8<<20)
	many := []entry{{name: "customer.env", data: env}, {name: "key.json", data: key}}
	for i := range MaxZipEntries {
		many = append(many, entry{name: "f" + string(rune('a'+i)), data: []byte("x")})
	}
	tests := []struct {
		name    string
		zip     []byte
		size    int64 // 0 means len(zip)
		message string
	}{
		{"not a zip", []byte("this is not a zip"), 0, "not a readable zip"},
		{"oversized zip", makeZip(t, entry{name: "customer.env", data: env}), MaxZipSize + 1, "larger than the 10.0 MB limit"},
		{"too many entries", makeZip(t, many...), 0, "has 18 entries"},
		{"dot-dot", makeZip(t, entry{name: "../customer.env", data: env}, entry{name: "key.json", data: key}), 0, `points outside the archive`},
		{"dot-dot inside", makeZip(t, entry{name: "pkg/../../etc/x", data: env}), 0, `points outside the archive`},
		{"absolute", makeZip(t, entry{name: "/etc/customer.env", data: env}), 0, "absolute path"},
		{"drive letter", makeZip(t, entry{name: "C:/customer.env", data: env}), 0, "absolute path"},
		{"backslash", makeZip(t, entry{name: `..\customer.env`, data: env}), 0, "backslashes"},
		{"nested zip by name", makeZip(t, entry{name: "customer.env", data: env}, entry{name: "key.json", data: key},
			entry{name: "inner.ZIP", data: inner}), 0, "contains another zip"},
		{"nested zip by content", makeZip(t, entry{name: "customer.env", data: env}, entry{name: "key.json", data: inner}), 0, "contains another zip"},
		{"symlink", makeZip(t, entry{name: "customer.env", data: []byte("/etc/passwd"), mode: fs.ModeSymlink | 0o777},
			entry{name: "key.json", data: key}), 0, "symbolic link"},
		{"encrypted", makeZip(t, entry{name: "customer.env", data: env, flags: 0x1}, entry{name: "key.json", data: key}), 0, "is encrypted"},
		{"duplicate", makeZip(t, entry{name: "customer.env", data: env}, entry{name: "customer.env", data: env},
			entry{name: "key.json", data: key}), 0, "two entries named"},
		{"two customer.env", makeZip(t, entry{name: "customer.env", data: env}, entry{name: "old/customer.env", data: env},
			entry{name: "key.json", data: key}), 0, "more than one customer.env"},
		{"no customer.env", makeZip(t, entry{name: "key.json", data: key}), 0, "has no customer.env"},
		{"customer.env too deep", makeZip(t, entry{name: "a/b/customer.env", data: env}, entry{name: "key.json", data: key}), 0, "has no customer.env"},
		{"no key.json", makeZip(t, entry{name: "customer.env", data: env}), 0, "has no key.json"},
		{"oversized entry", makeZip(t, entry{name: "customer.env", data: big}, entry{name: "key.json", data: key}), 0,
			"customer.env in the zip is larger than the 1.0 MB limit"},
		{"bomb with lying header", makeZip(t, entry{name: "customer.env", data: bomb, lie: 100}, entry{name: "key.json", data: key}), 0,
			"holds more data than its header declares"},
		{"empty customer.env", makeZip(t, entry{name: "customer.env"}, entry{name: "key.json", data: key}), 0, "customer.env is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			size := tt.size
			if size == 0 {
				size = int64(len(tt.zip))
			}
			_, err := FromZip(bytes.NewReader(tt.zip), size)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("FromZip error = %v, want an *Error", err)
			}
			if !strings.Contains(e.Message, tt.message) {
				t.Errorf("message %q lacks %q", e.Message, tt.message)
			}
			wantField := FieldZip
			if tt.name == "empty customer.env" {
				wantField = FieldCustomerEnv
			}
			if e.Field != wantField {
				t.Errorf("field %q, want %q", e.Field, wantField)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	key := keyJSON(t, nil)
	tests := []struct {
		name    string
		env     string
		key     []byte
		rel     Release
		id      string
		status  check.Status
		message string
	}{
		{"good", goodEnv, key, rel, "package.key_json", check.Pass, "service-account key for onp-abc123@"},
		{"good project", goodEnv, key, rel, "package.project", check.Pass, "belongs to the package's GCP project"},
		{"good min version", goodEnv, key, rel, "package.min_version", check.Pass, "is at least 2026.4.1"},
		{"malformed line", goodEnv + "NOT A VALID LINE\n", key, rel, "package.customer_env", check.Fail, "key cannot contain a space"},
		{"unterminated quote", goodEnv + "X='open\n", key, rel, "package.customer_env", check.Fail, "unterminated quoted value"},
		{"missing variables", strings.Replace(strings.Replace(goodEnv, "ACC_DOMAIN=accounts.carto.com\n", "", 1), "LOCAL_REDIS_SCALE=1\n", "", 1),
			key, rel, "package.required_vars", check.Fail, "customer.env lacks ACC_DOMAIN, LOCAL_REDIS_SCALE."},
		{"commented variable is missing", strings.Replace(goodEnv, "DO_API_DOMAIN", "# DO_API_DOMAIN", 1), key, rel,
			"package.required_vars", check.Fail, "lacks DO_API_DOMAIN."},
		{"legacy password", strings.Replace(goodEnv, "POSTGRES_ADMIN_PASSWORD", "POSTGRES_PASSWORD", 1), key, rel,
			"package.required_vars", check.Pass, "every variable"},
		{"legacy password noted", strings.Replace(goodEnv, "POSTGRES_ADMIN_PASSWORD", "POSTGRES_PASSWORD", 1), key, rel,
			"package.customer_env", check.Pass, "renamed to POSTGRES_ADMIN_PASSWORD as install.sh does"},
		{"old package", goodEnv, key, Release{Version: "2026.4.24", MinVersion: "2026.5.1"}, "package.min_version", check.Fail,
			"2026.4.2 is older than 2026.5.1"},
		{"sort -V order", strings.Replace(goodEnv, "=2026.4.2", `="2022.05.12-5"`, 1), key, Release{MinVersion: "2022.6.28"},
			"package.min_version", check.Fail, "older than 2022.6.28"},
		{"unknown min version", goodEnv, key, Release{}, "package.min_version", check.Error, "MIN_VERSION is unknown"},
		{"not json", goodEnv, []byte("{not json"), rel, "package.key_json", check.Fail, "not valid JSON (error at byte 2)"},
		{"json array", goodEnv, []byte(`[1]`), rel, "package.key_json", check.Fail, "not a JSON object"},
		{"not a service account", goodEnv, keyJSON(t, func(m map[string]any) { m["type"] = "authorized_user" }), rel,
			"package.key_json", check.Fail, `its type is "authorized_user"`},
		{"no client_email", goodEnv, keyJSON(t, func(m map[string]any) { delete(m, "client_email") }), rel,
			"package.key_json", check.Fail, "has no client_email"},
		{"no project_id", goodEnv, keyJSON(t, func(m map[string]any) { m["project_id"] = "" }), rel,
			"package.key_json", check.Fail, "has no project_id"},
		{"no private key", goodEnv, keyJSON(t, func(m map[string]any) { delete(m, "private_key") }), rel,
			"package.key_json", check.Fail, "has no private_key"},
		{"private key not PEM", goodEnv, keyJSON(t, func(m map[string]any) { m["private_key"] = "MIIEvQIBADANBg" }), rel,
			"package.key_json", check.Fail, "not a PEM block"},
		{"private key garbage", goodEnv, keyJSON(t, func(m map[string]any) {
			m["private_key"] = string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte("garbage")}))
		}), rel, "package.key_json", check.Fail, "does not parse as a PKCS#8 or PKCS#1"},
		{"certificate instead of key", goodEnv, keyJSON(t, func(m map[string]any) {
			m["private_key"] = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("x")}))
		}), rel, "package.key_json", check.Fail, `"CERTIFICATE" PEM block`},
		{"pkcs1 key", goodEnv, keyJSON(t, func(m map[string]any) {
			m["private_key"] = string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(testKey(t))}))
		}), rel, "package.key_json", check.Pass, "service-account key"},
		{"invalid UTF-8 names the line", goodEnv + "# caf\xe9\n", key, rel, "package.customer_env", check.Fail,
			"customer.env is not valid UTF-8: line 18 has a byte that is not UTF-8 (byte 6 of the line)."},
		{"UTF-16 customer.env", "\xff\xfe#\x00 \x00", key, rel, "package.customer_env", check.Fail, "customer.env is UTF-16 text"},
		{"CRLF customer.env is reported", strings.ReplaceAll(goodEnv, "\n", "\r\n"), key, rel, "package.text_format", check.Warn,
			"customer.env has Windows line endings (CR LF); they are converted"},
		{"CRLF customer.env still parses", strings.ReplaceAll(goodEnv, "\n", "\r\n"), key, rel, "package.required_vars", check.Pass, "every variable"},
		{"BOM in customer.env", "\uFEFF" + goodEnv, key, rel, "package.text_format", check.Warn, "customer.env starts with a byte order mark (BOM);"},
		{"BOM in key.json is named", goodEnv, append([]byte("\uFEFF"), key...), rel, "package.key_json", check.Fail,
			"key.json starts with a byte order mark (BOM)"},
		{"invalid UTF-8 in key.json", goodEnv, []byte("{\"type\":\"\xff\"}"), rel, "package.key_json", check.Fail,
			"key.json is not valid UTF-8: line 1"},
		{"other project", goodEnv, keyJSON(t, func(m map[string]any) { m["project_id"] = "my-own-project" }), rel,
			"package.project", check.Warn, "belongs to project my-own-project, but customer.env names carto-tnt-onp-abc123"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			results, _ := Validate(Files{CustomerEnv: []byte(tt.env), KeyJSON: tt.key}, tt.rel)
			var got *check.Result
			for i := range results {
				if results[i].ID == tt.id {
					got = &results[i]
				}
			}
			if got == nil {
				t.Fatalf("no %s result in %+v", tt.id, results)
			}
			if got.Status != tt.status || !strings.Contains(got.Message, tt.message) {
				t.Errorf("%s = %s %q, want %s containing %q", tt.id, got.Status, got.Message, tt.status, tt.message)
			}
			if got.Step != Step {
				t.Errorf("step %q, want %q", got.Step, Step)
			}
		})
	}
}

func TestSummaryHoldsNoSecret(t *testing.T) {
	key := keyJSON(t, nil)
	z := makeZip(t, entry{name: "customer.env", data: []byte(goodEnv)}, entry{name: "key.json", data: key})
	files, results, sum := ValidateZip(bytes.NewReader(z), int64(len(z)), rel)
	if check.Failed(results) {
		t.Fatalf("a good package failed: %+v", results)
	}
	want := Summary{TenantID: "onp-abc123", Domain: "carto3-onprem.lan", PackageVersion: "2026.4.2", ReleaseVersion: "2026.4.24",
		MinVersion: "2026.4.1", ServiceAccount: "onp-abc123@carto-tnt-onp-abc123.iam.gserviceaccount.com",
		KeyProject: "carto-tnt-onp-abc123", GCPProject: "carto-tnt-onp-abc123"}
	if d := cmp.Diff(want, sum); d != "" {
		t.Errorf("summary (-want +got):\n%s", d)
	}
	if !bytes.Equal(files.KeyJSON, key) {
		t.Error("ValidateZip did not return key.json")
	}
	all, _ := json.Marshal(struct {
		S Summary
		R []check.Result
	}{sum, results})
	for _, secret := range []string{"r4nd0m", "PRIVATE KEY", "MII"} {
		if bytes.Contains(all, []byte(secret)) {
			t.Errorf("summary or results contain the secret %q: %s", secret, all)
		}
	}
}

func TestValidateFilesRejects(t *testing.T) {
	tests := []struct {
		name      string
		env, key  []byte
		id, field string
		message   string
	}{
		{"no customer.env", nil, []byte("{}"), "package.customer_env", FieldCustomerEnv, "customer.env is empty or was not uploaded"},
		{"no key.json", []byte(goodEnv), nil, "package.key_json", FieldKeyJSON, "key.json is empty or was not uploaded"},
		{"big key.json", []byte(goodEnv), bytes.Repeat([]byte(" "), MaxFileSize+1), "package.key_json", FieldKeyJSON, "key.json is larger than the 1.0 MB limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, results, _ := ValidateFiles(tt.env, tt.key, rel)
			if len(results) != 1 {
				t.Fatalf("results %+v, want one rejection", results)
			}
			r := results[0]
			if r.ID != tt.id || r.Field != tt.field || r.Status != check.Fail || !strings.Contains(r.Message, tt.message) {
				t.Errorf("got %+v, want %s/%s failing with %q", r, tt.id, tt.field, tt.message)
			}
		})
	}

	z := []byte("PK\x03\x04 broken")
	_, results, _ := ValidateZip(bytes.NewReader(z), int64(len(z)), rel)
	if len(results) != 1 || results[0].ID != "package.zip" || results[0].Field != FieldZip || results[0].Status != check.Fail {
		t.Errorf("broken zip gave %+v, want one failed package.zip", results)
	}
}

// TestCleanPackageHasNoTextFormatResult guards against a warning on every
// package: the LF, BOM-free package CARTO sends yields no package.text_format.
func TestCleanPackageHasNoTextFormatResult(t *testing.T) {
	results, _ := Validate(Files{CustomerEnv: []byte(goodEnv), KeyJSON: keyJSON(t, nil)}, rel)
	for _, r := range results {
		if r.ID == "package.text_format" {
			t.Fatalf("clean package reported %+v", r)
		}
	}
}
