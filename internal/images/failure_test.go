package images

import (
	"errors"
	"net"
	"strings"
	"testing"

	"github.com/carto-setup/carto-setup/internal/engine"
)

// The messages are the Docker Engine 20.10's own, recorded against the
// in-process registry (and, for the disk and TLS cases, from its source).
func TestClassify(t *testing.T) {
	tests := []struct {
		msg  string
		want Kind
	}{
		{`Head "http://127.0.0.1:34633/v2/carto-setup-regtest/img/manifests/63e67f4248": no basic auth credentials`, Denied},
		{`manifest for 127.0.0.1:34633/carto-setup-regtest/img:missing not found: manifest unknown: Unknown manifest`, NotFound},
		{`Get "http://127.0.0.1:34633/v2/": dial tcp 127.0.0.1:34633: connect: connection refused`, Unreachable},
		{`dial tcp 127.0.0.1:40737: connect: connection refused`, Unreachable},
		{`Get "https://gcr.io/v2/": dial tcp: lookup gcr.io on 127.0.0.53:53: no such host`, Unreachable},
		{`Get "https://gcr.io/v2/": net/http: request canceled while waiting for connection (Client.Timeout exceeded while awaiting headers)`, Unreachable},
		{`Get "https://gcr.io/v2/": proxyconnect tcp: dial tcp 10.0.0.1:3128: i/o timeout`, Unreachable},
		{`pull access denied for carto/x, repository does not exist or may require 'docker login': denied: requested access to the resource is denied`, Denied},
		{`unauthorized: authentication required`, Denied},
		{`failed to register layer: Error processing tar file(exit status 1): write /usr/lib/x: no space left on device`, DiskFull},
		{`Get "https://10.0.0.5:5000/v2/": http: server gave HTTP response to HTTPS client`, TLS},
		{`Get "https://gcr.io/v2/": x509: certificate signed by unknown authority`, TLS},
		{`something else entirely`, Other},
	}
	for _, tt := range tests {
		if got := classify(tt.msg); got != tt.want {
			t.Errorf("classify(%q) = %s, want %s", tt.msg, got, tt.want)
		}
	}
}

func TestFailureHints(t *testing.T) {
	proxy := Proxy{URL: "http://proxy.corp:3128", Source: "HTTPS_PROXY of the Docker daemon's environment"}
	tests := []struct {
		kind Kind
		want []string
	}{
		{Unreachable, []string{"could not reach the registry gcr.io", "http://proxy.corp:3128", "images save", "images load"}},
		{NotFound, []string{"has no image gcr.io/carto-onprem-artifacts/maps-api:2026.8.11: its repository carto-onprem-artifacts/maps-api has no tag 2026.8.11", "release and the customer package disagree"}},
		{Denied, []string{"refused access", "docker login gcr.io"}},
		{DiskFull, []string{"/var/lib/docker", "docker image prune"}},
		{TLS, []string{"/etc/docker/certs.d/gcr.io/ca.crt", "insecure-registries"}},
		{Stalled, []string{"stopped advancing", "proxy.corp"}},
	}
	for _, tt := range tests {
		f := failureFor("gcr.io/carto-onprem-artifacts/maps-api:2026.8.11", "detail", tt.kind, proxy, "/var/lib/docker")
		text := f.Message + " " + f.Hint
		for _, w := range tt.want {
			if !strings.Contains(text, w) {
				t.Errorf("%s: %q lacks %q", tt.kind, text, w)
			}
		}
		if f.Kind != tt.kind || f.Detail != "detail" {
			t.Errorf("%s: failure %+v", tt.kind, f)
		}
	}
	direct := failureFor("gcr.io/x:1", "", Unreachable, Proxy{}, "")
	if !strings.Contains(direct.Hint, "connects directly (no proxy is set for it)") {
		t.Errorf("hint without proxy: %q", direct.Hint)
	}
}

func TestNetKind(t *testing.T) {
	if k := netKind(&net.DNSError{Err: "no such host", Name: "x", IsNotFound: true}); k != Unreachable {
		t.Errorf("DNS error: %s", k)
	}
	if k := netKind(errors.New("unexpected")); k != Unreachable {
		t.Errorf("unknown transport error: %s", k)
	}
}

func TestDockerInsecure(t *testing.T) {
	info := engine.Info{InsecureRegistryCIDRs: []string{"127.0.0.0/8"}, InsecureRegistries: []string{"mirror.corp:5000"}}
	lookup := func(host string) ([]net.IP, error) {
		switch host {
		case "localhost":
			return []net.IP{net.ParseIP("127.0.0.1")}, nil
		case "gcr.io":
			return []net.IP{net.ParseIP("142.250.1.1")}, nil
		}
		return nil, errors.New("no such host")
	}
	insecure := DockerInsecure(info, lookup)
	for host, want := range map[string]bool{
		"127.0.0.1:5000":   true,
		"127.1.2.3":        true,
		"localhost:5000":   true,
		"mirror.corp:5000": true,
		"mirror.corp:5001": false,
		"gcr.io":           false,
		"10.0.0.5:5000":    false,
		"unknown.example":  false,
	} {
		if got := insecure(host); got != want {
			t.Errorf("insecure(%s) = %v, want %v", host, got, want)
		}
	}
}

func TestDaemonProxy(t *testing.T) {
	info := engine.Info{HTTPSProxy: "http://user:pw@proxy.corp:3128", HTTPProxy: "http://plain.corp:3128", NoProxy: "internal.corp,127.0.0.0/8"}
	tests := []struct {
		host  string
		plain bool
		want  string
	}{
		{"gcr.io", false, "http://user@proxy.corp:3128"},
		{"mirror.internal.corp", false, ""},
		{"10.1.1.1:5000", true, "http://plain.corp:3128"},
		{"127.0.0.1:5000", true, ""},
	}
	for _, tt := range tests {
		got := DaemonProxy(info, tt.host, tt.plain)
		if got.URL != tt.want {
			t.Errorf("DaemonProxy(%s) = %+v, want %q", tt.host, got, tt.want)
		}
		if got.URL != "" && !strings.Contains(got.Source, "Docker daemon") {
			t.Errorf("source %q does not name the daemon", got.Source)
		}
		if strings.Contains(got.URL, "pw") {
			t.Errorf("the proxy password is shown: %s", got.URL)
		}
	}
}
