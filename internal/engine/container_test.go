package engine

import (
	"context"
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/carto-setup/carto-setup/internal/testenv"
)

func TestCreateOptions(t *testing.T) {
	tests := []struct {
		name     string
		spec     ContainerSpec
		wantJSON []string // fragments of the encoded host config and config
		wantErr  string
	}{
		{
			name: "relay",
			spec: ContainerSpec{
				Name: "carto-setup-port80-80", Image: "carto-setup-port80:abc", Cmd: []string{"--to", "172.17.0.1:4000"},
				Labels: map[string]string{"io.carto-setup.port80": "80"}, User: "65534:65534",
				Publish:    []PublishedPort{{ContainerPort: 8080, HostPort: 80}},
				AutoRemove: true, Memory: 64 << 20, Pids: 64,
			},
			wantJSON: []string{
				`"PortBindings":{"8080/tcp":[{"HostIp":"","HostPort":"80"}]}`,
				`"ExposedPorts":{"8080/tcp":{}}`,
				`"AutoRemove":true`,
				`"CapDrop":["ALL"]`,
				`"SecurityOpt":["no-new-privileges:true"]`,
				`"ReadonlyRootfs":true`,
				`"Privileged":false`,
				`"Memory":67108864`,
				`"PidsLimit":64`,
				`"User":"65534:65534"`,
				`"Tty":true`,
			},
		},
		{
			name:     "one host address",
			spec:     ContainerSpec{Image: "i", Publish: []PublishedPort{{ContainerPort: 8080, HostIP: "127.0.0.1", HostPort: 8081}}},
			wantJSON: []string{`"PortBindings":{"8080/tcp":[{"HostIp":"127.0.0.1","HostPort":"8081"}]}`},
		},
		{
			name:    "container port out of range",
			spec:    ContainerSpec{Image: "i", Publish: []PublishedPort{{ContainerPort: 70000, HostPort: 80}}},
			wantErr: "out of range",
		},
		{
			name:    "bad host address",
			spec:    ContainerSpec{Image: "i", Publish: []PublishedPort{{ContainerPort: 8080, HostIP: "localhost", HostPort: 80}}},
			wantErr: `publish on "localhost"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts, err := createOptions(tt.spec)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			hc, _ := json.Marshal(opts.HostConfig)
			cfg, _ := json.Marshal(opts.Config)
			all := string(hc) + string(cfg)
			for _, want := range tt.wantJSON {
				if !strings.Contains(all, want) {
					t.Errorf("request lacks %s:\n%s", want, all)
				}
			}
			if opts.Name != tt.spec.Name || opts.Config.Image != tt.spec.Image {
				t.Errorf("name %q image %q", opts.Name, opts.Config.Image)
			}
		})
	}
}

func TestDefaultBridgeLive(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	eng, err := New(ctx)
	if err != nil {
		testenv.Missing(t, "Docker Engine", "install Docker Engine 20.10+ and start it: "+err.Error())
	}
	t.Cleanup(func() { eng.Close() })
	b, err := eng.DefaultBridge(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !b.Subnet.IsValid() || !b.Gateway.Is4() || !b.Subnet.Contains(b.Gateway) {
		t.Errorf("bridge %+v: the gateway is not an IPv4 address in the subnet", b)
	}
	if b.Interface == "" {
		t.Errorf("bridge %+v has no interface name", b)
	}
	// The gateway must be an address of this host, or the wizard could not
	// listen on it.
	if got := interfaceAddr(b.Interface, b.Subnet); got.IsValid() && got != b.Gateway {
		t.Errorf("gateway %s, but %s has %s", b.Gateway, b.Interface, got)
	}
}

func TestInterfaceAddr(t *testing.T) {
	tests := []struct {
		name   string
		iface  string
		subnet string
		want   string
	}{
		{"loopback", "lo", "127.0.0.0/8", "127.0.0.1"},
		{"outside the subnet", "lo", "10.0.0.0/8", ""},
		{"no interface", "no-such-if0", "127.0.0.0/8", ""},
		{"no name", "", "127.0.0.0/8", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := interfaceAddr(tt.iface, netip.MustParsePrefix(tt.subnet))
			if (tt.want == "" && got.IsValid()) || (tt.want != "" && got.String() != tt.want) {
				t.Errorf("interfaceAddr = %v, want %q", got, tt.want)
			}
		})
	}
}
