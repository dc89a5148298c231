package preflight

import (
	"io/fs"
	"strings"
	"testing"

	"github.com/carto-setup/carto-setup/internal/check"
	"github.com/google/go-cmp/cmp"
)

const (
	osUbuntu1804 = `NAME="Ubuntu"
VERSION="18.04.6 LTS (Bionic Beaver)"
ID=ubuntu
ID_LIKE=debian
PRETTY_NAME="Ubuntu 18.04.6 LTS"
VERSION_ID="18.04"
VERSION_CODENAME=bionic
`
	osUbuntu2004 = `NAME="Ubuntu"
VERSION="20.04.6 LTS (Focal Fossa)"
ID=ubuntu
ID_LIKE=debian
PRETTY_NAME="Ubuntu 20.04.6 LTS"
VERSION_ID="20.04"
`
	osUbuntu2204 = `PRETTY_NAME="Ubuntu 22.04.4 LTS"
NAME="Ubuntu"
VERSION_ID="22.04"
VERSION="22.04.4 LTS (Jammy Jellyfish)"
VERSION_CODENAME=jammy
ID=ubuntu
ID_LIKE=debian
`
	osDebian12 = `PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
`
	osMint = `NAME="Linux Mint"
VERSION_ID="21.3"
ID=linuxmint
ID_LIKE="ubuntu debian"
PRETTY_NAME="Linux Mint 21.3"
`
)

// files is a ReadFile over a fixed set of paths.
type files map[string]string

func (f files) read(name string) ([]byte, error) {
	if s, ok := f[name]; ok {
		return []byte(s), nil
	}
	return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
}

func TestParseOSRelease(t *testing.T) {
	got := parseOSRelease([]byte("# comment\nID=ubuntu\nPRETTY_NAME=\"Ubuntu 22.04.4 LTS\"\nNAME='Ubuntu'\n\nBROKEN\n"))
	want := map[string]string{"ID": "ubuntu", "PRETTY_NAME": "Ubuntu 22.04.4 LTS", "NAME": "Ubuntu"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("parseOSRelease() mismatch (-want +got):\n%s", diff)
	}
}

func TestCheckOS(t *testing.T) {
	tests := []struct {
		name         string
		osRelease    string // "" means the file is missing
		wantStatus   check.Status
		wantMeasured string
	}{
		{"ubuntu 18.04", osUbuntu1804, check.Warn, "Ubuntu 18.04.6 LTS"},
		{"ubuntu 20.04", osUbuntu2004, check.Pass, "Ubuntu 20.04.6 LTS"},
		{"ubuntu 22.04", osUbuntu2204, check.Pass, "Ubuntu 22.04.4 LTS"},
		{"debian 12", osDebian12, check.Warn, "Debian GNU/Linux 12 (bookworm)"},
		{"ubuntu derivative", osMint, check.Warn, "Linux Mint 21.3"},
		{"ubuntu without version", "ID=ubuntu\nNAME=Ubuntu\n", check.Warn, "Ubuntu"},
		{"missing", "", check.Error, "cannot read /etc/os-release"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := files{}
			if tt.osRelease != "" {
				f["/etc/os-release"] = tt.osRelease
			}
			r := checkOS(Deps{ReadFile: f.read})
			if r.Status != tt.wantStatus || r.Measured != tt.wantMeasured {
				t.Errorf("checkOS() = %s %q, want %s %q", r.Status, r.Measured, tt.wantStatus, tt.wantMeasured)
			}
			assertComplete(t, r)
		})
	}
}

func TestMajorMinor(t *testing.T) {
	tests := []struct {
		in           string
		major, minor int
		ok           bool
	}{
		{"20.04", 20, 4, true},
		{"20.10.24+dfsg1", 20, 10, true},
		{"27.3.1", 27, 3, true},
		{"v1.29.2", 1, 29, true},
		{"12", 12, 0, true},
		{"19.03.15-ce", 19, 3, true},
		{"", 0, 0, false},
		{"jammy", 0, 0, false},
	}
	for _, tt := range tests {
		ma, mi, ok := majorMinor(tt.in)
		if ma != tt.major || mi != tt.minor || ok != tt.ok {
			t.Errorf("majorMinor(%q) = %d, %d, %v; want %d, %d, %v", tt.in, ma, mi, ok, tt.major, tt.minor, tt.ok)
		}
	}
}

func TestAtLeast(t *testing.T) {
	tests := []struct {
		v            string
		major, minor int
		want         bool
	}{
		{"20.10.24+dfsg1", 20, 10, true},
		{"20.10.0", 20, 10, true},
		{"19.03.15", 20, 10, false},
		{"20.9", 20, 10, false},
		{"23.0.1", 20, 10, true},
		{"27.3.1", 20, 10, true},
		{"18.04", 20, 4, false},
		{"20.04", 20, 4, true},
		{"24.04", 20, 4, true},
	}
	for _, tt := range tests {
		got, ok := atLeast(tt.v, tt.major, tt.minor)
		if !ok || got != tt.want {
			t.Errorf("atLeast(%q, %d, %d) = %v, %v; want %v", tt.v, tt.major, tt.minor, got, ok, tt.want)
		}
	}
}

func TestCheckArch(t *testing.T) {
	tests := []struct {
		goarch     string
		wantStatus check.Status
		wantFixed  bool
	}{
		{"amd64", check.Pass, false},
		{"arm64", check.Fail, true},
	}
	for _, tt := range tests {
		r := checkArch(Deps{GOARCH: tt.goarch})
		if r.Status != tt.wantStatus || r.Fixed != tt.wantFixed {
			t.Errorf("checkArch(%s) = %s fixed=%v, want %s fixed=%v", tt.goarch, r.Status, r.Fixed, tt.wantStatus, tt.wantFixed)
		}
		assertComplete(t, r)
	}
}

func TestCheckCPU(t *testing.T) {
	tests := []struct {
		n    int
		want check.Status
	}{
		{2, check.Fail},
		{3, check.Fail},
		{4, check.Pass},
		{16, check.Pass},
	}
	for _, tt := range tests {
		r := checkCPU(Deps{NumCPU: tt.n})
		if r.Status != tt.want {
			t.Errorf("checkCPU(%d) = %s, want %s", tt.n, r.Status, tt.want)
		}
		if r.Fixed {
			t.Errorf("checkCPU(%d) is Fixed; CPU count must be overridable", tt.n)
		}
		assertComplete(t, r)
	}
}

func meminfo(memTotal string) string {
	return "MemTotal:       " + memTotal + "\nMemFree:         1000000 kB\nMemAvailable:    2000000 kB\n"
}

func TestParseMemTotal(t *testing.T) {
	tests := []struct {
		in      string
		want    uint64
		wantErr bool
	}{
		{meminfo("16365312 kB"), 16365312, false},
		{meminfo("24684084 kB"), 24684084, false},
		{"MemFree: 1 kB\n", 0, true},
		{meminfo("lots kB"), 0, true},
		{meminfo("16 GB"), 0, true},
	}
	for _, tt := range tests {
		got, err := parseMemTotal([]byte(tt.in))
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("parseMemTotal(%q) = %d, %v; want %d, err %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestCheckMemory(t *testing.T) {
	tests := []struct {
		name         string
		meminfo      string
		wantStatus   check.Status
		wantMeasured string
	}{
		// A 16 GiB VM: the kernel keeps about 400 MiB for itself.
		{"16 GiB VM reporting 15.6 GiB", meminfo("16365312 kB"), check.Pass, "15.6 GiB"},
		{"exactly 15 GiB", meminfo("15728640 kB"), check.Pass, "15.0 GiB"},
		// A "16 GB" VM sized in decimal gigabytes (14.9 GiB) is below
		// the rule too; CARTO's heap caps alone add up to about 14 GB.
		{"just under 15 GiB", meminfo("15728639 kB"), check.Fail, "14.9 GiB"},
		{"8 GiB VM", meminfo("8148012 kB"), check.Fail, "7.7 GiB"},
		{"24 GiB machine", meminfo("24684084 kB"), check.Pass, "23.5 GiB"},
		{"unreadable", "garbage\n", check.Error, "unreadable /proc/meminfo"},
		{"missing", "", check.Error, "cannot read /proc/meminfo"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := files{}
			if tt.meminfo != "" {
				f["/proc/meminfo"] = tt.meminfo
			}
			r := checkMemory(Deps{ReadFile: f.read})
			if r.Status != tt.wantStatus || r.Measured != tt.wantMeasured {
				t.Errorf("checkMemory() = %s %q, want %s %q", r.Status, r.Measured, tt.wantStatus, tt.wantMeasured)
			}
			assertComplete(t, r)
		})
	}
}

// assertComplete checks the contract every result keeps: an ID, a measured
// and a required value, a message, and a hint unless it passed.
func assertComplete(t *testing.T, r check.Result) {
	t.Helper()
	if !strings.HasPrefix(r.ID, "preflight.") {
		t.Errorf("result ID %q does not start with preflight.", r.ID)
	}
	if r.Measured == "" || r.Required == "" || r.Message == "" {
		t.Errorf("result %s lacks measured, required or message: %+v", r.ID, r)
	}
	if r.Status != check.Pass && r.Hint == "" {
		t.Errorf("result %s is %s without a hint", r.ID, r.Status)
	}
}
