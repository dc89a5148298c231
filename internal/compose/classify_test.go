package compose

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The samples in testdata are Compose output: the v1 ones marked "real"
// were recorded from Debian's docker-compose 1.29.2 on the project machine,
// the rest are written from the messages Compose and the Docker daemon
// print.
func TestClassify(t *testing.T) {
	tests := []struct {
		file      string
		wantKind  Kind
		wantPort  string
		wantImage string
	}{
		{"v1-registry-unreachable.txt", KindRegistryUnreachable, "", "carto-setup-test/does-not-exist:0.0.0"}, // real
		{"v2-registry-timeout.txt", KindRegistryUnreachable, "", ""},
		{"v1-pull-denied.txt", KindPullDenied, "", "gcr.io/carto-onprem-artifacts/router/router-http"},
		{"v2-pull-denied.txt", KindPullDenied, "", "carto-setup-test/nope"},
		{"v2-unauthorized.txt", KindPullDenied, "", ""},
		{"v2-manifest-unknown.txt", KindImageNotFound, "", "gcr.io/carto-onprem-artifacts/lds-api:2099.1.1"},
		{"v2-no-such-image.txt", KindImageNotFound, "", "carto-setup-test/stand-in:dev"},
		{"v1-port-allocated.txt", KindPortAllocated, "443", ""},
		{"v2-address-in-use.txt", KindPortAllocated, "80", ""},
		{"v1-address-in-use.txt", KindPortAllocated, "18081", ""}, // real
		{"v1-invalid-yaml.txt", KindInvalidFile, "", ""},          // real
		{"v1-invalid-option.txt", KindInvalidFile, "", ""},        // real
		{"v1-empty-image.txt", KindInvalidFile, "", ""},           // real
		{"v2-invalid.txt", KindInvalidFile, "", ""},
		{"v2-yaml.txt", KindInvalidFile, "", ""},
		{"v1-daemon-unreachable.txt", KindDaemonUnreachable, "", ""}, // real
		{"v1-daemon-unreachable-pyinstaller.txt", KindDaemonUnreachable, "", ""},
		{"v2-daemon-unreachable.txt", KindDaemonUnreachable, "", ""},
		{"v1-permission.txt", KindDaemonPermission, "", ""},
		{"v2-permission.txt", KindDaemonPermission, "", ""},
		{"v2-other.txt", KindOther, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("testdata", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			e := Classify(string(b))
			if e.Kind != tt.wantKind || e.Port != tt.wantPort || e.Image != tt.wantImage {
				t.Errorf("Classify() = {Kind: %s, Port: %q, Image: %q}, want {%s, %q, %q} (line %q)",
					e.Kind, e.Port, e.Image, tt.wantKind, tt.wantPort, tt.wantImage, e.Line)
			}
			if e.Line == "" {
				t.Error("Classify() left Line empty")
			}
			if e.Message() == "" || e.Hint() == "" {
				t.Errorf("Message() = %q, Hint() = %q; want both set", e.Message(), e.Hint())
			}
		})
	}
}

func TestUpErrorMessages(t *testing.T) {
	tests := []struct {
		err         UpError
		wantMessage string // substring
		wantHint    string // substring
	}{
		{UpError{Kind: KindPortAllocated, Port: "443"}, "Host port 443 is already in use", "port 443"},
		{UpError{Kind: KindPortAllocated}, "already in use", "the port"},
		{UpError{Kind: KindPullDenied, Image: "x/y:1"}, "pull image x/y:1", "docker login"},
		{UpError{Kind: KindImageNotFound}, "find an image", "VERSION"},
		{UpError{Kind: KindRegistryUnreachable, Image: "a:b"}, "pull image a:b", "gcr.io"},
		{UpError{Kind: KindDaemonPermission}, "Docker socket", "usermod -aG docker"},
		{UpError{Kind: KindDaemonUnreachable}, "Docker daemon", "systemctl start docker"},
		{UpError{Kind: KindInvalidFile}, "docker-compose.yml", "same release tag"},
		{UpError{Kind: KindOther}, "failed", "Compose output"},
	}
	for _, tt := range tests {
		t.Run(string(tt.err.Kind), func(t *testing.T) {
			if got := tt.err.Message(); !strings.Contains(got, tt.wantMessage) {
				t.Errorf("Message() = %q, want it to contain %q", got, tt.wantMessage)
			}
			if got := tt.err.Hint(); !strings.Contains(got, tt.wantHint) {
				t.Errorf("Hint() = %q, want it to contain %q", got, tt.wantHint)
			}
		})
	}
}

// The user-facing text must never carry raw output, which can quote .env
// values such as passwords.
func TestUpErrorMessageOmitsOutput(t *testing.T) {
	e := Classify("ERROR: Invalid interpolation format for \"environment\" option in service \"workspace-api\": \"s3cr$t\"\n")
	if e.Kind != KindInvalidFile {
		t.Fatalf("Kind = %s, want %s", e.Kind, KindInvalidFile)
	}
	for _, s := range []string{e.Message(), e.Hint()} {
		if strings.Contains(s, "s3cr") {
			t.Errorf("user text %q contains output", s)
		}
	}
}
