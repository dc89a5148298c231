package installsh

import (
	"math/rand/v2"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/carto-setup/carto-setup/internal/testenv"
	"github.com/google/go-cmp/cmp"
)

func TestCompareVersions(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"2022.05.12-5", "2022.6.28", -1},
		{"2022.6.28", "2022.05.12-5", 1},
		{"2026.4.1", "2026.4.1", 0},
		{`"2026.4.1"`, "2026.4.1", 0},
		{"2025.9.1", "2025.11.11", -1},
		{"2026.8.11-rc.7", "2026.8.11", 1}, // sort -V puts the rc after the release
		{"2026.8.11-rc.7", "2026.8.11-rc.10", -1},
		{"2026.8.11-rc.7", "2026.8.12", -1},
		{"2022.8.19-1", "2022.8.19", 1},
		{"1.0", "1.00", -1}, // equal numbers, byte order breaks the tie
		{"20.10.21", "20.10", 1},
		{"1.29.2", "1.29", 1},
		{"1.25.0", "1.29", -1},
		{"2.20.2", "1.29", 1},
		{"1.0~rc1", "1.0", -1},
		{"", "1", -1},
	}
	for _, tt := range tests {
		t.Run(tt.a+" vs "+tt.b, func(t *testing.T) {
			if got := CompareVersions(tt.a, tt.b); got != tt.want {
				t.Errorf("CompareVersions(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
			}
		})
	}
}

// TestCompareVersionsMatchesSortV sorts a table of versions, plus random
// ones, with the real `LC_ALL=C sort -V` and with CompareVersions and
// requires the same order.
func TestCompareVersionsMatchesSortV(t *testing.T) {
	sortBin := testenv.LookPath(t, "sort", "install GNU coreutils")
	versions := []string{
		"2022.05.12-5", "2022.6.28", "2022.8.19-1", "2023.6.16", "2023.10.25", "2025.3.7",
		"2025.4.21", "2025.9.1", "2026.4.1", "2026.8.11-rc.7", "2026.8.11-rc.10", "2026.8.11",
		"2025.11.11-patch1", "2025.11.11", "1.0", "1.00", "1.0~rc1", "1.0a", "1.0.tar",
		"1.0.tar.gz", "v1.2", "1.2", "20.10", "20.10.21", "1.29.2", "2.1.1", "a", "B", "~x",
		"1_2", "1-2", "1+2", "0.9", "00.9", "9.0", "10.0", ".hidden", "..", ".", "x.y~z",
	}
	rng := rand.New(rand.NewPCG(1, 2))
	const alphabet = "0123456789..-~a_rcZ+ x"
	for range 1000 {
		var b strings.Builder
		for range 1 + rng.IntN(9) {
			b.WriteByte(alphabet[rng.IntN(len(alphabet))])
		}
		versions = append(versions, b.String())
	}
	slices.Sort(versions)
	versions = slices.Compact(versions)

	cmd := exec.Command(sortBin, "-V")
	cmd.Env = []string{"LC_ALL=C"}
	cmd.Stdin = strings.NewReader(strings.Join(versions, "\n") + "\n")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("sort -V: %v", err)
	}
	want := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	got := slices.Clone(versions)
	slices.SortFunc(got, CompareVersions)
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("order differs from sort -V (-sort +ours):\n%s", d)
	}
}

func TestParseComposeVersion(t *testing.T) {
	tests := []struct{ out, want, wantErr string }{
		{"docker-compose version 1.29.2, build unknown\ndocker-py version: 5.0.3\n", "1.29.2", ""},
		{"docker-compose version 1.29.2, build 5becea4c", "1.29.2", ""},
		{"Docker Compose version v2.27.0", "2.27.0", ""},
		{"Docker Compose version 2.20.2+ds1-0ubuntu1~22.04.1", "2.20.2+ds1-0ubuntu1~22.04.1", ""},
		{"2.27.0\n", "2.27.0", ""},
		{"command not found", "", "no version"},
	}
	for _, tt := range tests {
		t.Run(tt.out, func(t *testing.T) {
			got, err := ParseComposeVersion(tt.out)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseComposeVersion = %q, %v, want %q", got, err, tt.want)
			}
		})
	}
}

func TestParseDockerVersion(t *testing.T) {
	tests := []struct{ out, want string }{
		{"Docker version 24.0.7, build afdd53b\n", "24.0.7"},
		{"Docker version 20.10.21+dfsg1, build baeda1f", "20.10.21+dfsg1"},
		{"27.3.1", "27.3.1"},
	}
	for _, tt := range tests {
		t.Run(tt.out, func(t *testing.T) {
			got, err := ParseDockerVersion(tt.out)
			if err != nil || got != tt.want {
				t.Fatalf("ParseDockerVersion = %q, %v, want %q", got, err, tt.want)
			}
		})
	}
	if _, err := ParseDockerVersion("bash: docker: command not found"); err == nil {
		t.Error("ParseDockerVersion accepted garbage")
	}
}
