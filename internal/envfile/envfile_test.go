package envfile

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/carto-setup/carto-setup/internal/testenv"
	"github.com/google/go-cmp/cmp"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want map[string]string
	}{
		{"plain", "A=1\nB=two\n", map[string]string{"A": "1", "B": "two"}},
		{"comments and blanks", "# c\n\n  # d\nA=1\n", map[string]string{"A": "1"}},
		{"export prefix", "export A=1\n", map[string]string{"A": "1"}},
		{"inline comment needs a space", "A=x #c\nB=x#c\n", map[string]string{"A": "x", "B": "x#c"}},
		{"unquoted is trimmed", "A=  x  \t\r\n", map[string]string{"A": "x"}},
		{"single quotes are literal", `A='$B \n "x"'` + "\n", map[string]string{"A": `$B \n "x"`}},
		{"single quote escape", `A='it\'s'` + "\n", map[string]string{"A": "it's"}},
		{"double quote escapes", `A="a\"b\\c\nd\$e"` + "\n", map[string]string{"A": "a\"b\\c\nd$e"}},
		{"multi-line quoted", "A=\"x\ny\"\nB=1\n", map[string]string{"A": "x\ny", "B": "1"}},
		{"last duplicate wins", "A=1\nA=2\n", map[string]string{"A": "2"}},
		{"expansion of earlier keys", "A=x\nB=${A}-$A-${C:-d}-$$\nC='${A}'\n", map[string]string{"A": "x", "B": "x-x-d-$", "C": "${A}"}},
		{"nested operands", "A=x\nB=${Z:-${A}-$A}\nC=${A:+y}${A+w}${Q-${E:-d}}\n", map[string]string{"A": "x", "B": "x-x", "C": "ywd"}},
		{"lone dollar is literal", "A=x$ y$\n", map[string]string{"A": "x$ y$"}},
		{"yaml style", "A: 1\n", map[string]string{"A": "1"}},
		{"spaces around =", "A = 1\n", map[string]string{"A": "1"}},
		{"bare key is not a value", "A\nB=1\n", map[string]string{"B": "1"}},
		{"two statements on a line", "A='1' B=2\n", map[string]string{"A": "1", "B": "2"}},
		{"comment after quote", "A='1'# c\n", map[string]string{"A": "1"}},
		{"empty value", "A=\nB=\n", map[string]string{"A": "", "B": ""}},
		{"byte order mark", "\uFEFFA=1\n", map[string]string{"A": "1"}},
		{"no final newline", "A=1", map[string]string{"A": "1"}},
		{"crlf", "A=1\r\nB='2'\r\n", map[string]string{"A": "1", "B": "2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Parse([]byte(tt.in))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			got := map[string]string{}
			for _, k := range f.Keys() {
				got[k], _ = f.Get(k)
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("values (-want +got):\n%s", d)
			}
			if !bytes.Equal(f.Bytes(), []byte(tt.in)) {
				t.Errorf("Bytes() = %q, want the input unchanged", f.Bytes())
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"unterminated", "A='x\n", "unterminated quoted value"},
		{"bad key", "A$B=1\n", "unexpected character"},
		{"space in key", "A B=1\n", "key cannot contain a space"},
		{"unclosed brace", "A=x${ y\n", "invalid interpolation"},
		{"required", "A=${B?need B}\n", "required variable B"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.in))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Parse error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestSet(t *testing.T) {
	tests := []struct {
		name, in, key, value, want string
	}{
		{"in place keeps comment", "# top\nA=1 # note\nB=2\n", "A", "x y", "# top\nA='x y' # note\nB=2\n"},
		{"bare stays bare", "A=1\n", "A", "0", "A=0\n"},
		{"keeps single quotes", "A='10M'\n", "A", "20M", "A='20M'\n"},
		{"keeps double quotes", "A=\"x\"\n", "A", "it's", "A=\"it's\"\n"},
		{"last duplicate edited", "A=1\nA=2\n", "A", "3", "A=1\nA=3\n"},
		{"keeps export", "export A=1\n", "A", "2", "export A=2\n"},
		{"multi-line value replaced", "A=\"x\ny\"\nB=1\n", "A", "z", "A=\"z\"\nB=1\n"},
		{"uncomments #KEY", "A=1\n#B=<FILL_ME>\n", "B", "h", "A=1\nB=h\n"},
		{"uncomments after a byte order mark", "\uFEFF# B=x\n", "B", "y", "\uFEFFB=y\n"},
		{"uncomments # KEY", "# B=<FILL_ME>\r\nA=1\n", "B", "h", "B=h\r\nA=1\n"},
		{"ignores prose", "# B is the host\nA=1\n", "B", "h", "# B is the host\nA=1\nB=h\n"},
		{"appends with newline", "A=1", "B", "2", "A=1\nB=2\n"},
		{"appends to empty", "", "B", "", "B=\n"},
		{"quoted before attached comment", "A='x'#c\n", "A", "y", "A='y'#c\n"},
		{"bare key gets a value", "A\nB=1\n", "A", "v", "A=v\nB=1\n"},
		{"double quotes for '", "A=1\n", "A", `it's "x"\y`, `A="it's \"x\"\\y"` + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Parse([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if err := f.Set(tt.key, tt.value); err != nil {
				t.Fatalf("Set: %v", err)
			}
			if d := cmp.Diff(tt.want, string(f.Bytes())); d != "" {
				t.Errorf("Bytes (-want +got):\n%s", d)
			}
			if got, _ := f.Get(tt.key); got != tt.value {
				t.Errorf("Get(%s) = %q, want %q", tt.key, got, tt.value)
			}
		})
	}
}

func TestSetRefuses(t *testing.T) {
	tests := []struct{ name, key, value, want string }{
		{"newline", "A", "a\nB=1", "line break"},
		{"carriage return", "A", "a\rb", "line break"},
		{"nul", "A", "a\x00b", "NUL"},
		{"invalid utf8", "A", "a\xffb", "UTF-8"},
		{"trailing backslash", "A", `a\`, "ends with a backslash"},
		{"python expansion", "A", "${HOME}", "${...}"},
		{"python default expansion", "A", "x${B:-y}", "${...}"},
		{"quote and dollar", "A", "it's $5", "combines"},
		{"quote and backtick", "A", "it's `x`", "combines"},
		{"double backslash and dollar", "A", `a\\b$`, "combines"},
		{"bad key", "A-B", "x", "a key must be"},
		{"key starting with digit", "1A", "x", "a key must be"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := "# c\nA=1\n"
			f, _ := Parse([]byte(in))
			err := f.Set(tt.key, tt.value)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Set error = %v, want it to contain %q", err, tt.want)
			}
			if string(f.Bytes()) != in {
				t.Errorf("a refused Set changed the file to %q", f.Bytes())
			}
		})
	}
}

// TestSwitchBlocks switches CARTO's local database block to the external
// one and back, the way the wizard does.
func TestSwitchBlocks(t *testing.T) {
	const local = "# local\nLOCAL_POSTGRES_SCALE=1\nWORKSPACE_POSTGRES_HOST=workspace-postgres\n" +
		"# external\n# LOCAL_POSTGRES_SCALE=0\n# WORKSPACE_POSTGRES_HOST=<FILL_ME>\n"
	f, err := Parse([]byte(local))
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"LOCAL_POSTGRES_SCALE", "WORKSPACE_POSTGRES_HOST"} {
		if err := f.Comment(k); err != nil {
			t.Fatal(err)
		}
	}
	must(t, f.Set("LOCAL_POSTGRES_SCALE", "0"))
	must(t, f.Set("WORKSPACE_POSTGRES_HOST", "db.example.com"))
	const external = "# local\n# LOCAL_POSTGRES_SCALE=1\n# WORKSPACE_POSTGRES_HOST=workspace-postgres\n" +
		"# external\nLOCAL_POSTGRES_SCALE=0\nWORKSPACE_POSTGRES_HOST=db.example.com\n"
	if d := cmp.Diff(external, string(f.Bytes())); d != "" {
		t.Fatalf("after switching to external (-want +got):\n%s", d)
	}

	// A fresh File, as after a restart: the external block is active now.
	f, _ = Parse(f.Bytes())
	for _, k := range []string{"LOCAL_POSTGRES_SCALE", "WORKSPACE_POSTGRES_HOST"} {
		must(t, f.Comment(k))
	}
	must(t, f.Set("LOCAL_POSTGRES_SCALE", "1"))
	must(t, f.Set("WORKSPACE_POSTGRES_HOST", "workspace-postgres"))
	const back = "# local\nLOCAL_POSTGRES_SCALE=1\nWORKSPACE_POSTGRES_HOST=workspace-postgres\n" +
		"# external\n# LOCAL_POSTGRES_SCALE=0\n# WORKSPACE_POSTGRES_HOST=db.example.com\n"
	if d := cmp.Diff(back, string(f.Bytes())); d != "" {
		t.Fatalf("after switching back (-want +got):\n%s", d)
	}
}

func TestComment(t *testing.T) {
	tests := []struct{ name, in, key, want, wantErr string }{
		{"every assignment", "A=1\nB=2\nA=3\n", "A", "# A=1\nB=2\n# A=3\n", ""},
		{"multi-line value", "A=\"x\ny\" # c\nB=2\n", "A", "# A=\"x\n# y\" # c\nB=2\n", ""},
		{"absent key", "B=2\n", "A", "B=2\n", ""},
		{"after a byte order mark", "\uFEFFA=1\n", "A", "\uFEFF# A=1\n", ""},
		{"shared line after", "A='1' B=2\n", "A", "", "another statement after"},
		{"shared line before", "B='2' A=1\n", "A", "", "another statement before"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Parse([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			err = f.Comment(tt.key)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Comment error = %v, want %q", err, tt.wantErr)
				}
				if string(f.Bytes()) != tt.in {
					t.Errorf("a failed Comment changed the file")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.want, string(f.Bytes())); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
			if _, ok := f.Get(tt.key); ok {
				t.Errorf("%s still assigned", tt.key)
			}
		})
	}
}

// nastyValues are values a user could type into a password or path field.
var nastyValues = []string{
	"", "plain", "with space", "it's", `say "hi"`, `back\slash`, `two\\backslashes`,
	"$HOME", "$$", "a$", "${x", "$(whoami)", "`id`", "#hash", "a #b", " lead", "trail ",
	"\ttab", "ünïcødé ✓", `'`, `"`, `'"`, `\'`, `\"`, "!bang", "*", "~", "~/x", "a=b",
	"{a,b}", ";rm -rf /", "a && b", "a|b", ">x", "<x", "(x)", `x\y'z`, "%s", "\v\f",
	`\n`, `\0101`, `\$x`, "x:~/y", "-", "=", "p@ss:w0rd/+,.%",
}

// writeNasty writes every nasty value as V0, V1, ... with Set.
func writeNasty(t *testing.T) string {
	t.Helper()
	f, _ := Parse([]byte("# nasty values\n"))
	for i, v := range nastyValues {
		if err := f.Set(fmt.Sprintf("V%d", i), v); err != nil {
			t.Fatalf("Set(%q): %v", v, err)
		}
	}
	path := filepath.Join(t.TempDir(), "customer.env")
	if err := os.WriteFile(path, f.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestBashReadsSameValue proves `set -a; source customer.env` gives bash
// exactly the values Set wrote.
func TestBashReadsSameValue(t *testing.T) {
	bash := testenv.LookPath(t, "bash", "install bash")
	path := writeNasty(t)
	for i, v := range nastyValues {
		t.Run(fmt.Sprintf("%q", v), func(t *testing.T) {
			out, err := exec.Command(bash, "-c", `set -a; source "$1"; printf %s "$V`+fmt.Sprint(i)+`"`, "bash", path).CombinedOutput()
			if err != nil {
				t.Fatalf("bash: %v: %s", err, out)
			}
			if string(out) != v {
				t.Errorf("bash read %q, want %q", out, v)
			}
		})
	}
}

// pythons returns every python3 that has python-dotenv: Debian's
// docker-compose runs /usr/bin/python3, and another python3 on PATH may
// carry a newer python-dotenv.
func pythons(t *testing.T) []string {
	t.Helper()
	var found []string
	for _, name := range []string{"/usr/bin/python3", "python3"} {
		p, err := exec.LookPath(name)
		if err != nil || slices.Contains(found, p) || exec.Command(p, "-c", "import dotenv").Run() != nil {
			continue
		}
		found = append(found, p)
	}
	if len(found) == 0 {
		testenv.Missing(t, "python3 with python-dotenv", "apt-get install python3-dotenv (docker-compose pulls it in)")
	}
	return found
}

// pythonRead reads path with python-dotenv the way docker-compose 1.29
// reads .env.
func pythonRead(t *testing.T, py, path string) map[string]string {
	t.Helper()
	out, err := exec.Command(py, "-c", `import json,sys
from dotenv import dotenv_values
print(json.dumps(dotenv_values(dotenv_path=sys.argv[1], encoding="utf-8-sig", interpolate=True)))`, path).Output()
	if err != nil {
		t.Fatalf("python3: %v", err)
	}
	var got map[string]string
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("python output %q: %v", out, err)
	}
	return got
}

// TestPythonDotenvReadsSameValue proves python-dotenv, the parser of
// docker-compose v1, reads exactly the values Set wrote.
func TestPythonDotenvReadsSameValue(t *testing.T) {
	path := writeNasty(t)
	for _, py := range pythons(t) {
		t.Run(py, func(t *testing.T) {
			got := pythonRead(t, py, path)
			for i, v := range nastyValues {
				if g := got[fmt.Sprintf("V%d", i)]; g != v {
					t.Errorf("python-dotenv read V%d = %q, want %q", i, g, v)
				}
			}
		})
	}
}

// TestRefusalsAreNeeded shows that the obvious way of writing a refused
// value is misread by python-dotenv, so refusing it is right.
func TestRefusalsAreNeeded(t *testing.T) {
	tests := []struct{ name, line, value string }{
		{"${...} in single quotes", "A='${HOME}'\n", "${HOME}"},
		{"trailing backslash", "A=\"a\\\\\"\nB=\"x\"\n", `a\`},
		{"\\\\ with $ in single quotes", `A='a\\b$'` + "\n", `a\\b$`},
		{"escaped $ in double quotes", `A="it's \$5"` + "\n", "it's $5"},
	}
	for _, py := range pythons(t) {
		for _, tt := range tests {
			t.Run(py+"/"+tt.name, func(t *testing.T) {
				if _, err := Quote(tt.value); err == nil {
					t.Fatalf("Quote(%q) accepted the value", tt.value)
				}
				path := filepath.Join(t.TempDir(), "x.env")
				if err := os.WriteFile(path, []byte(tt.line), 0o600); err != nil {
					t.Fatal(err)
				}
				if got := pythonRead(t, py, path)["A"]; got == tt.value {
					t.Errorf("python-dotenv read %q correctly from %q; the refusal may be unneeded", got, tt.line)
				}
			})
		}
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
