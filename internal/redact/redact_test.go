package redact

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestMaskExactValues(t *testing.T) {
	tests := []struct {
		name    string
		secrets []string
		in      string
		want    string
	}{
		{"no secret", []string{"hunter22"}, "nothing to see", "nothing to see"},
		{"one occurrence", []string{"hunter22"}, "login hunter22 ok", "login **** ok"},
		{"several occurrences", []string{"hunter22"}, "hunter22/hunter22", "****/****"},
		{"substring of another secret", []string{"pass", "password1"}, "xpassword1 pass passw", "x**** **** ****w"},
		{"overlapping secrets", []string{"abcdef", "defghi"}, "xabcdefghix", "x****x"},
		{"overlapping occurrences", []string{"aaaa"}, "aaaaaa-aaaa", "****-****"},
		{"duplicates", []string{"s3cret!", "s3cret!"}, "is s3cret!", "is ****"},
		{"multibyte", []string{"clé-secrète"}, "→clé-secrète←", "→****←"},
		{"empty line", []string{"hunter22"}, "", ""},
		{"empty secret ignored", []string{""}, "a b", "a b"},
		// issue 20: values starting with /, ./ or ../ are masked like any other
		{"slash prefix", []string{"/bXlzZWNyZXQ="}, "got /bXlzZWNyZXQ= back", "got **** back"},
		{"dot slash prefix", []string{"./s3cr3t"}, "x./s3cr3ty", "x****y"},
		{"dot dot slash prefix", []string{"../s3cr3t"}, "at ../s3cr3t.", "at ****."},
		// regular-expression metacharacters are plain bytes
		{"metacharacters", []string{`a.*b+(c)[d]$^\|`}, `x a.*b+(c)[d]$^\| y aXXb`, "x **** y aXXb"},
		// short values: masked where they stand alone only
		{"short alone", []string{"ab"}, "pw ab, (ab) 'ab' ab", "pw ****, (****) '****' ****"},
		{"short in a URL", []string{"ab"}, "redis://:ab@cache:6379/0", "redis://:****@cache:6379/0"},
		{"short inside words", []string{"ab"}, "about cab xaby", "about cab xaby"},
		{"one byte", []string{"7"}, "pin 7 of 17", "pin **** of 17"},
		{"short slash", []string{"/a"}, "x /a y /ab", "x **** y /ab"},
		{"exactly ShortLen", []string{"abcd"}, "xabcdx", "x****x"},
		// encoded forms
		{"JSON escaped", []string{`pa"ss\word<1>`}, `{"p":"pa\"ss\\word\u003c1\u003e"}`, `{"p":"****"}`},
		{"JSON without HTML escapes", []string{`pa"ss<1>`}, `{"p":"pa\"ss<1>"}`, `{"p":"****"}`},
		{"JSON slash escaped", []string{`a/b/c/d`}, `{"p":"a\/b\/c\/d"}`, `{"p":"****"}`},
		{"URL encoded", []string{"p@ss:w/rd#1"}, "postgres://u:p%40ss%3Aw%2Frd%231@db/x", "postgres://u:****@db/x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := New(Values(tt.secrets...))
			if got := string(r.Mask([]byte(tt.in))); got != tt.want {
				t.Errorf("Mask(%q) = %q, want %q", tt.in, got, tt.want)
			}
			if got := r.MaskString(tt.in); got != tt.want {
				t.Errorf("MaskString(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

const testPEM = `-----BEGIN PRIVATE KEY-----
MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj
MzEfYyjiWA4R4/M2bS1GB4t7NXp98C3SC6dVMvDuictGeurT8jNbvJZHtCSuYEvu
NMoSfm76oqFvAp8Gy0iz5sxjZmSnXyCdPEovGhLa0VzMaQ8s+CLOyS56YyCFGeJZ
Zw==
-----END PRIVATE KEY-----
`

func TestMaskPEMLines(t *testing.T) {
	r := New([]Secret{{What: "router key", Value: testPEM}})
	for _, line := range strings.Split(testPEM, "\n") {
		got := r.MaskString("log: " + line)
		if strings.TrimSpace(line) != "" && !pemArmour(line) && got != "log: ****" {
			t.Errorf("line %q masked as %q", line, got)
		}
	}
	esc, _ := json.Marshal(map[string]string{"private_key": testPEM})
	if got := r.MaskString(string(esc)); got != `{"private_key":"****"}` {
		t.Errorf("JSON form masked as %q", got)
	}
}

func TestMaskUnregisteredPEM(t *testing.T) {
	r := New(nil)
	got, counts := r.Text([]byte("before\n" + testPEM + "after\n"))
	if string(got) != "before\n****\nafter\n" || counts[PEMBlock] != 1 {
		t.Errorf("got %q, counts %v", got, counts)
	}
	esc, _ := json.Marshal(testPEM)
	if got := r.MaskString(`{"k":` + string(esc) + `}`); got != `{"k":"****\n"}` {
		t.Errorf("JSON PEM masked as %q", got)
	}
	if got := r.MaskString("-----BEGIN RSA PRIVATE KEY----- cut off"); got != "****" {
		t.Errorf("truncated PEM masked as %q", got)
	}
}

func TestKeyJSONRegistersItsPrivateKey(t *testing.T) {
	doc, _ := json.Marshal(map[string]string{"type": "service_account", "private_key_id": "0123456789abcdef", "private_key": testPEM, "client_email": "sa@p.iam.gserviceaccount.com"})
	r := New([]Secret{{What: "key.json", Value: string(doc)}})
	lines := strings.Split(testPEM, "\n")
	_, counts := r.Text([]byte("id 0123456789abcdef and " + lines[2] + "\nsa@p.iam.gserviceaccount.com service_account"))
	if counts["key.json private key ID"] != 1 || counts["key.json private key"] != 1 {
		t.Errorf("counts %v", counts)
	}
	if got := r.MaskString("sa@p.iam.gserviceaccount.com service_account"); got != "sa@p.iam.gserviceaccount.com service_account" {
		t.Errorf("public fields of key.json masked: %q", got)
	}
}

func TestTextCounts(t *testing.T) {
	r := New([]Secret{{"a", "abcdef"}, {"b", "cdefgh"}, {"short", "abc"}, {"pw", "Adm1n-Pa55word"}})
	out, counts := r.Text([]byte("x abcdefgh y abc\nPOSTGRES_PASSWORD=\"Adm1n-Pa55word\"\nREDIS_PASSWORD=other-one\nSECRET=****\n"))
	want := "x **** y ****\nPOSTGRES_PASSWORD=****\nREDIS_PASSWORD=****\nSECRET=****\n"
	if string(out) != want {
		t.Errorf("got %q, want %q", out, want)
	}
	wantCounts := map[string]int{"a": 1, "b": 1, "short": 1, "pw": 1, "value of POSTGRES_PASSWORD": 1, "value of REDIS_PASSWORD": 1}
	for k, v := range wantCounts {
		if counts[k] != v {
			t.Errorf("counts[%q] = %d, want %d (all: %v)", k, counts[k], v, counts)
		}
	}
	if len(counts) != len(wantCounts) {
		t.Errorf("counts %v, want %v", counts, wantCounts)
	}
}

func TestNilRedactor(t *testing.T) {
	var r *Redactor
	if got := string(r.Mask([]byte("password=hunter22"))); got != "password=hunter22" {
		t.Errorf("nil Redactor changed the line: %q", got)
	}
}

func TestMaskCleanLineDoesNotAllocate(t *testing.T) {
	r := New(Values("alpha-secret", "beta-secret", "gamma-secret", "delta-secret", "0123456789abcdef", "ab"))
	for _, line := range []string{
		`{"level":"info","msg":"request served","path":"/api/v1/maps","status":200,"ms":12}`,
		`{"level":"info","msg":"cache key built","keys":3}`, // a keyword root, no assignment to mask
	} {
		b := []byte(line)
		if n := testing.AllocsPerRun(100, func() { r.Mask(b) }); n != 0 {
			t.Errorf("Mask allocated %v times on the clean line %s", n, line)
		}
		if got := r.Mask(b); !bytes.Equal(got, b) {
			t.Errorf("clean line changed: %s", got)
		}
	}
}

func TestEnvSecrets(t *testing.T) {
	env := "SELFHOSTED_DOMAIN=carto.example.com\n" +
		"POSTGRES_PASSWORD='/starts-with-slash'\n" +
		"DB_PASSWD=short\n" +
		"# REDIS_PASSWORD=\"commented \\\"out\\\"\"\n" +
		"WORKSPACE_JWT_SECRET: colon-form\n" +
		"export API_TOKEN=tok # a comment\n" +
		"VALKEY_DOCKER_IMAGE=gcr.io/carto-onprem-artifacts/valkey:1\n" +
		"ROUTER_SSL_CERTIFICATE_KEY_PATH=/etc/nginx/ssl/key\n" +
		"AUTH_PASSWORD=<FILL_ME>\nSOME_SECRET=true\nOTHER_SECRET=${POSTGRES_PASSWORD}\nEMPTY_KEY=\n" +
		"MULTI_SECRET=\"line one\nline two\"\n"
	got := map[string]bool{}
	for _, s := range EnvSecrets([]byte(env)) {
		got[s.What+"="+s.Value] = true
	}
	for _, want := range []string{
		"value of POSTGRES_PASSWORD=/starts-with-slash", "value of DB_PASSWD=short",
		`value of REDIS_PASSWORD=commented "out"`, "value of WORKSPACE_JWT_SECRET=colon-form",
		"value of API_TOKEN=tok", "value of MULTI_SECRET=line one\nline two",
	} {
		if !got[want] {
			t.Errorf("EnvSecrets lacks %q; got %v", want, got)
		}
	}
	for k := range got {
		for _, bad := range []string{"DOMAIN", "IMAGE", "_PATH", "FILL_ME", "true", "${", "EMPTY"} {
			if strings.Contains(k, bad) {
				t.Errorf("EnvSecrets returned %q", k)
			}
		}
	}
}

func TestCheckChosenSecret(t *testing.T) {
	for v, ok := range map[string]bool{"": true, "1234567": false, "12345678": true, "é234567": false, "ééééééé8": true, "/a": false} {
		if err := CheckChosenSecret(v); (err == nil) != ok {
			t.Errorf("CheckChosenSecret(%q) = %v", v, err)
		}
	}
}

func TestLineWriter(t *testing.T) {
	var out bytes.Buffer
	w := NewLineWriter(&out, New(Values("s3cret-value")))
	w.Write([]byte("one s3cr"))
	w.Write([]byte("et-value two\nthree"))
	w.Line("four s3cret-value")
	w.Write([]byte("unregistered key:\n" + testPEM + "done"))
	w.Flush()
	want := "one **** two\nthree\nfour ****\nunregistered key:\n****\n****\n****\n****\n****\n-----END PRIVATE KEY-----\ndone\n"
	if out.String() != want {
		t.Errorf("got %q\nwant %q", out.String(), want)
	}
}

func TestLineWriterLongLine(t *testing.T) {
	secret := "FIRSTHALFOFSECRET-secondhalfofsecret"
	r := New(Values(secret))
	keep := len(jsonString(secret, true)) - 1 // the longest form, less one
	for _, tc := range []struct {
		name, text, hidden string
	}{
		// The first cut the writer would try falls inside the secret.
		{"registered value", strings.Repeat("x", MaxLine+100-keep-12) + secret + strings.Repeat("y", 100), "FIRSTHALF"},
		// It falls inside an unregistered value masked by its key's name.
		{"value by name", strings.Repeat("x ", (MaxLine+100-keep-30)/2) + "DB_PASSWORD=unregistered-value-" + strings.Repeat("z", 300), strings.Repeat("z", 20)},
	} {
		var out bytes.Buffer
		w := NewLineWriter(&out, r)
		w.Write([]byte(tc.text[:MaxLine+100]))
		w.Write([]byte(tc.text[MaxLine+100:]))
		w.Flush()
		if strings.Contains(out.String(), tc.hidden) || !strings.Contains(out.String(), Mask) {
			t.Errorf("%s: cut at the line limit, it shows: %q", tc.name, out.String()[max(0, out.Len()-600):])
		}
		if got := strings.Count(out.String(), "\n"); got != 2 {
			t.Errorf("%s: %d lines, want the line written as 2", tc.name, got)
		}
	}
}

// TestPrettyKeyJSONLeavesBracesAlone: a pretty-printed key.json registers
// its lines, but not its "{" and "}" lines, which would garble every JSON
// document of an output (the JSON report of `apply --json`).
func TestPrettyKeyJSONLeavesBracesAlone(t *testing.T) {
	t.Parallel()
	key := "{\n  \"type\": \"service_account\",\n  \"private_key_id\": \"0123456789abcdef0123456789abcdef01234567\",\n  \"client_email\": \"x@y.iam.gserviceaccount.com\"\n}\n"
	r := New([]Secret{{What: "key.json", Value: key}})
	report := "{\n  \"checks\": [\n    {\n      \"id\": \"a\"\n    },\n  ]\n}\n"
	if got := r.MaskString(report); got != report {
		t.Errorf("a JSON document was changed:\n%s", got)
	}
	if got := r.MaskString(`  "private_key_id": "0123456789abcdef0123456789abcdef01234567",`); strings.Contains(got, "0123456789abcdef") {
		t.Errorf("a line of the key is not masked: %s", got)
	}
}

func TestMaskValuesLeavesNamesAlone(t *testing.T) {
	r := New(Values("hunter2-secret"))
	in := "{\n  \"key\": \"LOG_LEVEL\",\n  \"secret\": true,\n  \"password\": \"hunter2-secret\"\n}\n"
	want := "{\n  \"key\": \"LOG_LEVEL\",\n  \"secret\": true,\n  \"password\": \"****\"\n}\n"
	if got := string(r.MaskValues([]byte(in))); got != want {
		t.Errorf("MaskValues =\n%s\nwant\n%s", got, want)
	}
	if got := string(r.Mask([]byte("  \"key\": \"LOG_LEVEL\",\n"))); got == "  \"key\": \"LOG_LEVEL\",\n" {
		t.Errorf("Mask left a secret-named field alone: the key-name rule applies there")
	}
}
