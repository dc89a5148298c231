package preflight

import (
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/carto-setup/carto-setup/internal/check"
	"github.com/carto-setup/carto-setup/internal/testenv"
	"github.com/google/go-cmp/cmp"
)

// procNetTCP has a listener on 127.0.0.1:80 (inode 4242), one on
// 0.0.0.0:5447, and an established connection from port 443 that is not a
// listener.
const procNetTCP = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1 0000000000000000 100 0 0 10 0
   1: 00000000:1547 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4343 1 0000000000000000 100 0 0 10 0
   2: 0100007F:01BB 0100007F:A938 01 00000000:00000000 00:00000000 00000000     0        0 4444 1 0000000000000000 20 4 30 10 -1
`

func TestProcNetListeners(t *testing.T) {
	got := procNetListeners([]byte(procNetTCP))
	want := map[int][]string{80: {"4242"}, 5447: {"4343"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("procNetListeners() mismatch (-want +got):\n%s", diff)
	}
}

func TestCheckPortsLive(t *testing.T) {
	// Hold a loopback port: binding all addresses on it then fails.
	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	taken := held.Addr().(*net.TCPAddr).Port
	free := testenv.FreePort(t)
	deps := DefaultDeps(os.Getenv)

	r := checkPorts(deps, Config{Ports: []int{free, taken}})
	if r.Status != check.Fail {
		t.Fatalf("checkPorts() = %s (%s), want fail", r.Status, r.Measured)
	}
	if !strings.Contains(r.Measured, fmt.Sprintf("%d free", free)) || !strings.Contains(r.Measured, fmt.Sprintf("%d in use", taken)) {
		t.Errorf("measured %q does not say %d free and %d in use", r.Measured, free, taken)
	}
	// This test process holds the port, so its owner is knowable.
	if want := fmt.Sprintf("(pid %d)", os.Getpid()); !strings.Contains(r.Measured, want) {
		t.Errorf("measured %q does not name the owner %s", r.Measured, want)
	}
	assertComplete(t, r)

	if r := checkPorts(deps, Config{Ports: []int{free}}); r.Status != check.Pass {
		t.Errorf("checkPorts(free) = %s (%s), want pass", r.Status, r.Measured)
	}
}

func TestCheckPorts(t *testing.T) {
	inUse := func(string, string) (net.Listener, error) {
		return nil, &net.OpError{Op: "listen", Net: "tcp", Err: os.NewSyscallError("bind", syscall.EADDRINUSE)}
	}
	denied := func(string, string) (net.Listener, error) {
		return nil, &net.OpError{Op: "listen", Net: "tcp", Err: os.NewSyscallError("bind", syscall.EACCES)}
	}
	tests := []struct {
		name         string
		deps         Deps
		wantStatus   check.Status
		wantMeasured string
	}{
		{
			name:         "taken, owner known",
			deps:         Deps{Listen: inUse, PortOwner: func(int) string { return "nginx (pid 812)" }},
			wantStatus:   check.Fail,
			wantMeasured: "80 in use by nginx (pid 812), 443 in use by nginx (pid 812), 5447 in use by nginx (pid 812)",
		},
		{
			name:         "taken by docker-proxy",
			deps:         Deps{Listen: inUse, PortOwner: func(int) string { return "docker-proxy (pid 99)" }},
			wantStatus:   check.Warn,
			wantMeasured: "80 in use by docker-proxy (pid 99), 443 in use by docker-proxy (pid 99), 5447 in use by docker-proxy (pid 99)",
		},
		{
			// An ordinary user cannot bind 80; /proc/net/tcp decides.
			name:         "unprivileged, answered from /proc/net/tcp",
			deps:         Deps{Listen: denied, ReadFile: files{"/proc/net/tcp": procNetTCP}.read},
			wantStatus:   check.Fail,
			wantMeasured: "80 in use, 443 free, 5447 in use",
		},
		{
			name:         "unprivileged without /proc",
			deps:         Deps{Listen: denied, ReadFile: files{}.read},
			wantStatus:   check.Error,
			wantMeasured: "80 unknown, 443 unknown, 5447 unknown",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := checkPorts(tt.deps, Config{})
			if r.Status != tt.wantStatus || r.Measured != tt.wantMeasured {
				t.Errorf("checkPorts() = %s %q, want %s %q", r.Status, r.Measured, tt.wantStatus, tt.wantMeasured)
			}
			if r.Required != "TCP ports 80, 443, 5447 free" {
				t.Errorf("Required = %q", r.Required)
			}
			assertComplete(t, r)
		})
	}
}
