package release

import (
	"bytes"
	"errors"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/carto-setup/carto-setup/internal/check"
	"github.com/carto-setup/carto-setup/internal/envfile"
	"github.com/carto-setup/carto-setup/internal/installsh"
	"github.com/carto-setup/carto-setup/internal/testenv"
	"github.com/google/go-cmp/cmp"
)

// quotingTable lists values by the form envfile.Quote writes them in (the
// wizard writes every value it sets that way), covering each character
// that matters to a shell or to a dotenv parser: spaces, quotes, #, $, $(),
// backticks, backslashes and shell metacharacters. Values Quote refuses are
// listed apart: the wizard never writes them.
var quotingTable = map[string][]string{
	"bare": {
		"plain", "p4ssw0rd", "a.b/c:d@e,f+g%h-i_j", "-leading-dash", "100%", "",
	},
	"single-quoted: spaces": {
		"two words", " leading", "trailing ", "a  b", "\ttab", "a b c d e",
	},
	"single-quoted: #": {
		"#start", "a#b", "a #b", "a # b", "#", "##", "x #",
	},
	"single-quoted: double quotes": {
		`"`, `a"b`, `"quoted"`, `""`, `" #"`,
	},
	"single-quoted: $ and command substitution": {
		"$", "$HOME", "a$b", "$$", "$1", "${", "a${b", "$(id)", "`id`", "$((1+1))", "a$", "$(rm -rf /)", "$ {x}",
	},
	"single-quoted: backslashes": {
		`a\b`, `\n`, `C:\dir\file`, `\$x`, `a\ b`, `\"`, `\t\r`,
	},
	"single-quoted: shell metacharacters": {
		"a;b", "a&b", "a|b", "a>b", "a<b", "(x)", "{x}", "[x]", "*", "?", "~root", "!x", "a=b", "=", "x=y z", "-e", "-n",
	},
	"single-quoted: unicode": {
		"pässwörd", "密码", "key 🔑",
	},
	"single-quoted: mixed": {
		`p@ss w0rd#1$(x)"`, `"$(touch /tmp/pwned)"`, "a # b $c `d` \"e\"",
	},
	"double-quoted: single quotes and double backslashes": {
		"it's", "'", "''", "'single'", `a\\b`, `'"`, `a'b"c`, "it's #1", `C:\\path\\to`, "' OR 1=1 --", `\\'`, "O'Brien & co", "don't; rm x", "it's \\n",
	},
}

// refusedValues are values no quoting reads back the same everywhere;
// Quote refuses them, so the table cannot contain them.
var refusedValues = []string{`\\`, "a\nb", "a\rb", "a\x00b", "caf\xe9", `ends\`, "${HOME}", "${A:-b}", "it's $5", `\\$x`, "'`'"}

// wizardKeys are set the three ways the wizard meets a key: replacing a
// single-quoted value, uncommenting a commented-out assignment, appending.
var wizardKeys = []string{"POSTGRES_ADMIN_PASSWORD", "REDIS_PASSWORD", "WIZARD_VALUE"}

// standInRun is what the stand-in's install.sh did in a directory.
type standInRun struct {
	out    []string // its [WARN] and [ERROR] lines
	failed bool     // it exited non-zero
	dotEnv []byte
	values map[string]string // what its .env reader read for wizardKeys
}

// runStandIn runs steps B and C of the stand-in's install.sh in dir (step
// A checks the installed tools, not values; TestInstallShFullRun runs it),
// then reads wizardKeys back with the script's own .env reader.
func runStandIn(t *testing.T, bash, dir string) standInRun {
	t.Helper()
	var r standInRun
	cmd := exec.Command(bash, "-c", `set -o nounset -o errexit -o errtrace -o pipefail; source ./install.sh; generate_env; post_checks`)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("bash: %v", err)
	}
	r.failed = err != nil
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(l, "[WARN]") || strings.HasPrefix(l, "[ERROR]") {
			r.out = append(r.out, l)
		}
	}
	r.dotEnv, _ = os.ReadFile(filepath.Join(dir, ".env"))
	read := exec.Command(bash, "-c", `set -o nounset -o errexit; source ./install.sh; declare -A DOTENV=(); dotenv_read .env; for k in "$@"; do printf '%s\0' "${DOTENV[$k]-<unset>}"; done`, "bash")
	read.Args = append(read.Args, wizardKeys...)
	read.Dir = dir
	vals, err := read.Output()
	if err != nil {
		t.Fatalf("reading .env with install.sh's reader: %v", err)
	}
	parts := strings.Split(string(vals), "\x00")
	r.values = map[string]string{}
	for i, k := range wizardKeys {
		if i < len(parts) {
			r.values[k] = parts[i]
		}
	}
	return r
}

// expectedLines is what install.sh prints for step C results as carto-facts
// §2 words them, and whether it must exit non-zero (an unset variable
// aborts it; a .env Compose cannot read is refused).
func expectedLines(results []check.Result) ([]string, bool) {
	var lines []string
	abort := false
	for _, r := range results {
		switch {
		case r.ID == "install.local_postgres_scale" && r.Status == check.Warn:
			lines = append(lines, "[WARN]: Using embedded databases is not for PRODUCTION use")
		case r.ID == "install.postgres_admin_password" && r.Status == check.Fail:
			lines = append(lines, "[ERROR]: There is no Postgres Admin password defined")
		case r.ID == "install.min_version" && r.Status == check.Fail:
			lines = append(lines, "[ERROR]: Your customer package")
		case r.Status == check.Fail:
			abort = true
		}
	}
	return lines, abort
}

// wizardRelease writes the stand-in release in a new directory with the
// sample package, its customer.env given values by envfile as the wizard
// sets them, and returns the directory and that customer.env.
func wizardRelease(t *testing.T, values map[string]string) (string, []byte) {
	t.Helper()
	dir := t.TempDir()
	if err := Write(dir, ""); err != nil {
		t.Fatal(err)
	}
	env, err := envfile.Parse(SampleCustomerEnv("carto.example.com"))
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range slices.Sorted(maps.Keys(values)) {
		if err := env.Set(k, values[k]); err != nil {
			t.Fatalf("the wizard cannot write this value: %v", err)
		}
	}
	customerEnv := env.Bytes()
	os.WriteFile(filepath.Join(dir, "customer.env"), customerEnv, 0o600)
	os.WriteFile(filepath.Join(dir, "key.json"), []byte(`{"type":"service_account"}`), 0o600)
	return dir, customerEnv
}

// TestInstallShParsesLikeCompose runs every value of quotingTable, set by
// envfile as the wizard sets it, through the stand-in's install.sh with
// bash and through installsh (carto-facts §2 step B and C in Go): the .env
// bytes, the step C messages, the exit status and the values read back
// must be identical, and equal to the value set.
func TestInstallShParsesLikeCompose(t *testing.T) {
	bash := testenv.LookPath(t, "bash", "apt-get install bash")
	cases := 0
	for class, values := range quotingTable {
		for _, value := range values {
			cases++
			t.Run(class+"/"+value, func(t *testing.T) {
				t.Parallel()
				set := map[string]string{}
				for _, k := range wizardKeys {
					set[k] = value
				}
				dir, customerEnv := wizardRelease(t, set)
				version, _ := os.ReadFile(filepath.Join(dir, "VERSION"))
				tpl, _ := os.ReadFile(filepath.Join(dir, "env.tpl"))
				minVersion, _ := os.ReadFile(filepath.Join(dir, "MIN_VERSION"))

				got := runStandIn(t, bash, dir)

				wantEnv := installsh.DotEnv(customerEnv, version, tpl)
				if !bytes.Equal(got.dotEnv, wantEnv) {
					t.Errorf(".env differs from step B:\n%s", cmp.Diff(string(wantEnv), string(got.dotEnv)))
				}
				wantLines, wantAbort := expectedLines(installsh.PostChecks(wantEnv, minVersion))
				if got.failed != wantAbort {
					t.Errorf("install.sh failed = %v, want %v; output %q", got.failed, wantAbort, got.out)
				}
				if len(got.out) != len(wantLines) || !slices.EqualFunc(got.out, wantLines, strings.HasPrefix) {
					t.Errorf("install.sh printed %q, want %q", got.out, wantLines)
				}
				parsed, err := envfile.Parse(wantEnv)
				if err != nil {
					t.Fatal(err)
				}
				for _, k := range wizardKeys {
					want, _ := parsed.Get(k)
					if want != value {
						t.Fatalf("%s: Go reads %q, want %q (envfile bug)", k, want, value)
					}
					if got.values[k] != want {
						t.Errorf("%s: install.sh reads %q, Compose (Go) reads %q", k, got.values[k], want)
					}
				}
			})
		}
	}
	if cases < 58 {
		t.Errorf("the table has %d values, fewer than the 58 cases of issue 20", cases)
	}
}

func TestQuotingTableExcludesRefusedValues(t *testing.T) {
	for _, v := range refusedValues {
		if _, err := envfile.Quote(v); err == nil {
			t.Errorf("Quote accepts %q: move it into quotingTable", v)
		}
	}
}

// TestInstallShFullRun runs the whole stand-in install.sh, step A against
// the real docker and docker-compose included, on values that broke its
// earlier "export $(sed ... | xargs)": it must finish with no [ERROR].
func TestInstallShFullRun(t *testing.T) {
	bash := testenv.LookPath(t, "bash", "apt-get install bash")
	testenv.LookPath(t, "docker", "apt-get install docker.io")
	testenv.LookPath(t, "docker-compose", "apt-get install docker-compose")
	dir, _ := wizardRelease(t, map[string]string{"POSTGRES_ADMIN_PASSWORD": "p#ss w$(rd)", "REDIS_PASSWORD": "it's \\n", "WIZARD_VALUE": "x=y (z)"})
	cmd := exec.Command(bash, "install.sh")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil || strings.Contains(string(out), "[ERROR]") || strings.Contains(string(out), "Aborting") {
		t.Fatalf("install.sh: %v\n%s", err, out)
	}
	if want := "[WARN]: Using embedded databases is not for PRODUCTION use\n"; !strings.HasSuffix(string(out), want) {
		t.Fatalf("install.sh output lacks the embedded-database warning at its end:\n%s", out)
	}
}
