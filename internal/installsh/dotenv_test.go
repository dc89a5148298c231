package installsh

import (
	"bytes"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/carto-setup/carto-setup/internal/testenv"
	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden want.env files from DotEnv")

// goldenCases lists testdata/dotenv/<case>/ directories. Each holds
// customer.env, VERSION and env.tpl, and want.env written by hand from the
// step B description in carto-facts.md §2.
func goldenCases(t *testing.T) []string {
	t.Helper()
	dirs, err := filepath.Glob(filepath.Join("testdata", "dotenv", "*"))
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no golden cases: %v", err)
	}
	return dirs
}

func readCase(t *testing.T, dir string) (customerEnv, version, envTpl []byte) {
	t.Helper()
	r := func(n string) []byte {
		b, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	return r("customer.env"), r("VERSION"), r("env.tpl")
}

func TestDotEnvGolden(t *testing.T) {
	for _, dir := range goldenCases(t) {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			got := DotEnv(readCase(t, dir))
			golden := filepath.Join(dir, "want.env")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(string(want), string(got)); d != "" {
				t.Errorf("DotEnv differs from %s (-want +got):\n%s", golden, d)
			}
		})
	}
}

// stepB reproduces step B of install.sh with sed, printf and cat, written
// from the description in carto-facts.md §2, to cross-check DotEnv's bytes.
const stepB = `set -euo pipefail
cd "$1"
sed -i 's/^POSTGRES_PASSWORD/POSTGRES_ADMIN_PASSWORD/' customer.env
{
  cat customer.env
  printf '\n# %s CARTO VERSION %s\n\n' "$(printf '<%.0s' {1..31})" "$(printf '<%.0s' {1..32})"
  printf 'CARTO_SELFHOSTED_VERSION=%s\n\n' "$(cat VERSION)"
  printf '# %s\n\n' "$(printf '>%.0s' {1..78})"
  cat env.tpl
} > .env
`

func TestDotEnvMatchesShell(t *testing.T) {
	bash := testenv.LookPath(t, "bash", "install bash")
	for _, dir := range goldenCases(t) {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			customerEnv, version, envTpl := readCase(t, dir)
			tmp := t.TempDir()
			for name, b := range map[string][]byte{"customer.env": customerEnv, "VERSION": version, "env.tpl": envTpl} {
				if err := os.WriteFile(filepath.Join(tmp, name), b, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			if out, err := exec.Command(bash, "-c", stepB, "stepB", tmp).CombinedOutput(); err != nil {
				t.Fatalf("bash: %v: %s", err, out)
			}
			want, _ := os.ReadFile(filepath.Join(tmp, ".env"))
			if got := DotEnv(customerEnv, version, envTpl); !bytes.Equal(got, want) {
				t.Errorf("DotEnv differs from the shell's .env:\n%s", cmp.Diff(string(want), string(got)))
			}
			renamed, _ := os.ReadFile(filepath.Join(tmp, "customer.env"))
			if got := RenamePostgresPassword(customerEnv); !bytes.Equal(got, renamed) {
				t.Errorf("RenamePostgresPassword differs from sed:\n%s", cmp.Diff(string(renamed), string(got)))
			}
		})
	}
}

func TestRenamePostgresPassword(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"renamed", "POSTGRES_PASSWORD=x\n", "POSTGRES_ADMIN_PASSWORD=x\n"},
		{"only at line start", " POSTGRES_PASSWORD=x\n#POSTGRES_PASSWORD=y\n", " POSTGRES_PASSWORD=x\n#POSTGRES_PASSWORD=y\n"},
		{"every line", "POSTGRES_PASSWORD=a\nB=1\nPOSTGRES_PASSWORD=b", "POSTGRES_ADMIN_PASSWORD=a\nB=1\nPOSTGRES_ADMIN_PASSWORD=b"},
		{"prefix of a longer name", "POSTGRES_PASSWORDX=1\n", "POSTGRES_ADMIN_PASSWORDX=1\n"},
		{"idempotent", "POSTGRES_ADMIN_PASSWORD=x\n", "POSTGRES_ADMIN_PASSWORD=x\n"},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(RenamePostgresPassword([]byte(tt.in))); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}
