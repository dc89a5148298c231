package domaincheck

import (
	"bytes"
	"context"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/carto-setup/carto-setup/internal/engine"
	"github.com/carto-setup/carto-setup/internal/relay"
	"github.com/carto-setup/carto-setup/internal/testenv"
)

// fakePort80 is a Port80 whose Start is a function field.
type fakePort80 struct {
	start func() (func(), error)
	calls int
}

func (f *fakePort80) Start(context.Context, http.Handler) (func(), error) {
	f.calls++
	return f.start()
}

func TestFallbackPort80(t *testing.T) {
	permission := &ListenError{Addr: ":80", Kind: ListenPermission, Err: syscall.EACCES}
	inUse := &ListenError{Addr: ":80", Kind: ListenInUse, Err: syscall.EADDRINUSE}
	other := &ListenError{Addr: ":80", Kind: ListenOther, Err: syscall.EADDRNOTAVAIL}
	docker := errors.New("domaincheck: port 80 through a container: no docker")
	tests := []struct {
		name          string
		primary       error
		fallback      error
		noFallback    bool
		wantFallback  bool // the fallback was started
		wantStoppedBy string
		wantErrs      []error // errors.Is must find each
		wantKind      ListenErrorKind
	}{
		{name: "primary binds", wantStoppedBy: "primary"},
		{name: "permission uses the container", primary: permission, wantFallback: true, wantStoppedBy: "fallback"},
		{name: "in use is not retried", primary: inUse, wantErrs: []error{inUse}, wantKind: ListenInUse},
		{name: "other is not retried", primary: other, wantErrs: []error{other}, wantKind: ListenOther},
		{name: "permission without fallback", primary: permission, noFallback: true, wantErrs: []error{permission}, wantKind: ListenPermission},
		{name: "both fail", primary: permission, fallback: docker, wantFallback: true, wantErrs: []error{permission, docker}, wantKind: ListenPermission},
		{name: "port held for the container", primary: permission, fallback: inUse, wantFallback: true, wantErrs: []error{permission, inUse}, wantKind: ListenInUse},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stoppedBy string
			primary := &fakePort80{start: func() (func(), error) {
				if tt.primary != nil {
					return nil, tt.primary
				}
				return func() { stoppedBy = "primary" }, nil
			}}
			fallback := &fakePort80{start: func() (func(), error) {
				if tt.fallback != nil {
					return nil, tt.fallback
				}
				return func() { stoppedBy = "fallback" }, nil
			}}
			p := FallbackPort80{Primary: primary}
			if !tt.noFallback {
				p.Fallback = fallback
			}
			stop, err := p.Start(context.Background(), http.NotFoundHandler())
			if got := fallback.calls == 1; got != tt.wantFallback {
				t.Errorf("fallback started = %v, want %v", got, tt.wantFallback)
			}
			if len(tt.wantErrs) == 0 {
				if err != nil {
					t.Fatalf("Start: %v", err)
				}
				stop()
				if stoppedBy != tt.wantStoppedBy {
					t.Errorf("stop released %q, want %q", stoppedBy, tt.wantStoppedBy)
				}
				return
			}
			if err == nil {
				t.Fatal("Start succeeded")
			}
			for _, want := range tt.wantErrs {
				if !errors.Is(err, want) {
					t.Errorf("error %v does not wrap %v", err, want)
				}
			}
			var le *ListenError
			if !errors.As(err, &le) || le.Kind != tt.wantKind {
				t.Errorf("error %v: kind %v, want %s", err, le, tt.wantKind)
			}
		})
	}
}

func TestParseProxyLine(t *testing.T) {
	tests := []struct {
		line    string
		want    string // "" for nil
		wantErr bool
	}{
		{line: "PROXY TCP4 203.0.113.7 172.17.0.2 51234 8080", want: "203.0.113.7:51234"},
		{line: "PROXY TCP6 2001:db8::7 2001:db8::1 443 8080", want: "[2001:db8::7]:443"},
		{line: "PROXY UNKNOWN"},
		{line: "PROXY UNKNOWN ffff::1 ffff::2 1 2"},
		{line: "PROXY TCP4 2001:db8::7 172.17.0.2 1 2", wantErr: true},
		{line: "PROXY TCP4 203.0.113.7 172.17.0.2 99999 8080", wantErr: true},
		{line: "PROXY UDP4 203.0.113.7 172.17.0.2 1 2", wantErr: true},
		{line: "GET / HTTP/1.1", wantErr: true},
		{line: "", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			got, err := parseProxyLine(tt.line)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("parsed as %v, want an error", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if (got == nil) != (tt.want == "") || got != nil && got.String() != tt.want {
				t.Errorf("source = %v, want %q", got, tt.want)
			}
		})
	}
}

// writeELF writes a minimal 64-bit Linux executable header, with a
// PT_INTERP program header when dynamic, and returns its path.
func writeELF(t *testing.T, dynamic bool) string {
	t.Helper()
	var buf bytes.Buffer
	hdr := elf.Header64{
		Type: uint16(elf.ET_EXEC), Machine: uint16(elf.EM_X86_64), Version: uint32(elf.EV_CURRENT),
		Ehsize: 64, Phentsize: 56, Shentsize: 64,
	}
	copy(hdr.Ident[:], elf.ELFMAG)
	hdr.Ident[elf.EI_CLASS] = byte(elf.ELFCLASS64)
	hdr.Ident[elf.EI_DATA] = byte(elf.ELFDATA2LSB)
	hdr.Ident[elf.EI_VERSION] = byte(elf.EV_CURRENT)
	if dynamic {
		hdr.Phoff, hdr.Phnum = 64, 1
	}
	binary.Write(&buf, binary.LittleEndian, hdr)
	if dynamic {
		binary.Write(&buf, binary.LittleEndian, elf.Prog64{Type: uint32(elf.PT_INTERP), Off: 120, Filesz: 28, Memsz: 28})
		buf.WriteString("/lib64/ld-linux-x86-64.so.2\x00")
	}
	path := filepath.Join(t.TempDir(), "carto-setup")
	if err := os.WriteFile(path, buf.Bytes(), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestReadStatic(t *testing.T) {
	script := filepath.Join(t.TempDir(), "script")
	os.WriteFile(script, []byte("#!/bin/sh\n"), 0o755)
	tests := []struct {
		name    string
		path    string
		wantErr string
	}{
		{"static", writeELF(t, false), ""},
		{"dynamic", writeELF(t, true), "is dynamically linked; build it with CGO_ENABLED=0"},
		{"not an executable", script, "is not a Linux executable"},
		{"missing", filepath.Join(t.TempDir(), "nope"), "read the relay executable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := readStatic(tt.path)
			if tt.wantErr == "" && err != nil {
				t.Fatalf("readStatic: %v", err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestPortTaken(t *testing.T) {
	tests := []struct {
		msg  string
		want bool
	}{
		{"driver failed programming external connectivity on endpoint x: Bind for 0.0.0.0:80 failed: port is already allocated", true},
		{"Error starting userland proxy: listen tcp4 0.0.0.0:80: bind: address already in use", true},
		{"No such image: carto-setup-port80:abc", false},
	}
	for _, tt := range tests {
		if got := portTaken(errors.New(tt.msg)); got != tt.want {
			t.Errorf("portTaken(%q) = %v, want %v", tt.msg, got, tt.want)
		}
	}
}

// fakeEngine plays the Docker Engine in-process: "starting" a container
// runs relay.Main with the container's arguments on 127.0.0.1:<host port>,
// which is what publishing the port amounts to.
type fakeEngine struct {
	t        *testing.T
	startErr error // returned by StartContainer instead of running the relay
	// blocked makes the relay dial a closed port, as a firewall between
	// the bridge and the wizard would.
	blocked bool

	mu         sync.Mutex
	images     map[string]bool
	builds     int
	containers map[string]*fakeContainer
	nextID     int
	log        bytes.Buffer
}

type fakeContainer struct {
	spec   engine.ContainerSpec
	cancel context.CancelFunc
	exit   chan engine.ContainerExit
	done   chan struct{}
}

func newFakeEngine(t *testing.T) *fakeEngine {
	return &fakeEngine{t: t, images: map[string]bool{}, containers: map[string]*fakeContainer{}}
}

func (f *fakeEngine) DefaultBridge(context.Context) (engine.Bridge, error) {
	return engine.Bridge{Subnet: netip.MustParsePrefix("127.0.0.0/8"), Gateway: netip.MustParseAddr("127.0.0.1"), Interface: "lo"}, nil
}

func (f *fakeEngine) ImageExists(_ context.Context, ref string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.images[ref], nil
}

func (f *fakeEngine) BuildImage(_ context.Context, tag string, files map[string]engine.BuildFile, dockerfile string, _ io.Writer) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if files["carto-setup"].Mode != 0o755 || !strings.Contains(dockerfile, `ENTRYPOINT ["/carto-setup", "relay"]`) {
		return fmt.Errorf("unexpected build of %s", tag)
	}
	f.images[tag] = true
	f.builds++
	return nil
}

func (f *fakeEngine) LabeledContainers(_ context.Context, key, value string) ([]engine.ContainerInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []engine.ContainerInfo
	for id, c := range f.containers {
		if c.spec.Labels[key] == value {
			out = append(out, engine.ContainerInfo{ID: id, Name: c.spec.Name})
		}
	}
	return out, nil
}

func (f *fakeEngine) CreateContainer(_ context.Context, spec engine.ContainerSpec) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.images[spec.Image] {
		return "", fmt.Errorf("no such image %s", spec.Image)
	}
	f.nextID++
	id := "c" + strconv.Itoa(f.nextID)
	f.containers[id] = &fakeContainer{spec: spec, exit: make(chan engine.ContainerExit, 1), done: make(chan struct{})}
	return id, nil
}

func (f *fakeEngine) WaitContainer(_ context.Context, id string) <-chan engine.ContainerExit {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.containers[id].exit
}

func (f *fakeEngine) StartContainer(_ context.Context, id string) error {
	if f.startErr != nil {
		return f.startErr
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.containers[id]
	args := append([]string(nil), c.spec.Cmd...)
	for i := range args {
		if args[i] == "--listen" {
			args[i+1] = "127.0.0.1:" + strconv.Itoa(c.spec.Publish[0].HostPort)
		}
		if args[i] == "--to" && f.blocked {
			args[i+1] = "127.0.0.1:" + strconv.Itoa(testenv.FreePort(f.t))
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	go func() {
		defer close(c.done)
		code := relay.Main(ctx, args, io.Discard, &f.log)
		c.exit <- engine.ContainerExit{Code: code}
	}()
	return nil
}

func (f *fakeEngine) RemoveContainer(_ context.Context, id string) error {
	f.mu.Lock()
	c := f.containers[id]
	delete(f.containers, id)
	f.mu.Unlock()
	if c != nil && c.cancel != nil {
		c.cancel()
		<-c.done
	}
	return nil
}

func (f *fakeEngine) LastLogLines(context.Context, string, int) (string, error) {
	return "relay log line\r\n", nil
}

func (f *fakeEngine) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.containers)
}

// fetchNonce fetches a nonce from 127.0.0.1:port and checks the answer.
func fetchNonce(t *testing.T, port int, nonce string) {
	t.Helper()
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: nil}}
	resp, err := hc.Get("http://127.0.0.1:" + strconv.Itoa(port) + NoncePath + nonce)
	if err != nil {
		t.Fatalf("GET: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != nonce {
		t.Fatalf("GET = %d %q, want 200 %q", resp.StatusCode, body, nonce)
	}
}

func TestContainerPort80WithFakeEngine(t *testing.T) {
	eng := newFakeEngine(t)
	port := testenv.FreePort(t)
	var built []string
	p := &ContainerPort80{Engine: eng, Binary: writeELF(t, false), HostPort: port, ReadyTimeout: 5 * time.Second,
		Built: func(_ context.Context, image string) { built = append(built, image) }}
	nonces := NewNonces(time.Now, time.Minute)

	// A container left behind by a crashed wizard is removed first.
	eng.images["leftover"] = true
	if _, err := eng.CreateContainer(context.Background(), engine.ContainerSpec{Image: "leftover", Labels: map[string]string{LabelPort80: strconv.Itoa(port)}}); err != nil {
		t.Fatal(err)
	}

	for round := range 2 {
		stop, err := p.Start(context.Background(), NonceHandler(nonces, nil))
		if err != nil {
			t.Fatalf("round %d: Start: %v", round, err)
		}
		if n := eng.count(); n != 1 {
			t.Errorf("round %d: %d containers, want 1", round, n)
		}
		nonce := nonces.New()
		fetchNonce(t, port, nonce)
		// The PROXY line gives the handler the client's address, not
		// the relay's listener.
		hits := nonces.Hits(nonce)
		if len(hits) != 1 || !strings.HasPrefix(hits[0].Remote, "127.0.0.1:") {
			t.Errorf("round %d: hits %+v", round, hits)
		}
		stop()
		stop() // idempotent
		if n := eng.count(); n != 0 {
			t.Errorf("round %d: %d containers after stop, want 0", round, n)
		}
	}
	if eng.builds != 1 {
		t.Errorf("image built %d times, want once", eng.builds)
	}
	if len(built) != 1 || !strings.HasPrefix(built[0], "carto-setup-port80:") {
		t.Errorf("Built was told of %v, want the one image built", built)
	}

	t.Run("container spec", func(t *testing.T) {
		eng.startErr = errors.New("stop here")
		if _, err := p.Start(context.Background(), http.NotFoundHandler()); err == nil {
			t.Fatal("Start succeeded")
		}
		eng.startErr = nil
		// Start failed, so the container was removed; check what it
		// asked for through the next one instead.
		stop, err := p.Start(context.Background(), http.NotFoundHandler())
		if err != nil {
			t.Fatal(err)
		}
		defer stop()
		var spec engine.ContainerSpec
		eng.mu.Lock()
		for _, fc := range eng.containers {
			spec = fc.spec
		}
		eng.mu.Unlock()
		if !spec.AutoRemove || spec.User != "65534:65534" || spec.Memory == 0 || spec.Pids == 0 {
			t.Errorf("spec is not locked down: %+v", spec)
		}
		if len(spec.Publish) != 1 || spec.Publish[0] != (engine.PublishedPort{ContainerPort: 8080, HostPort: port}) {
			t.Errorf("publish = %+v", spec.Publish)
		}
		if !strings.HasPrefix(spec.Image, "carto-setup-port80:") {
			t.Errorf("image %q", spec.Image)
		}
		cmd := strings.Join(spec.Cmd, " ")
		if !strings.Contains(cmd, "--to 127.0.0.1:") || !strings.Contains(cmd, "--proxy-header") {
			t.Errorf("cmd = %q", cmd)
		}
	})
}

func TestContainerPort80Failures(t *testing.T) {
	tests := []struct {
		name     string
		startErr error
		binary   func(t *testing.T) string
		hold     bool // another program holds the host port
		blocked  bool
		wantErr  string
		wantKind ListenErrorKind
	}{
		{
			name:     "port allocated",
			startErr: errors.New("Bind for 0.0.0.0:80 failed: port is already allocated"),
			wantErr:  "port is already allocated", wantKind: ListenInUse,
		},
		{
			name:     "daemon refuses to start",
			startErr: errors.New("OCI runtime create failed"),
			wantErr:  "domaincheck: port 80 through a container: engine",
		},
		{
			name:    "dynamic binary",
			binary:  func(t *testing.T) string { return writeELF(t, true) },
			wantErr: "dynamically linked",
		},
		{
			name:    "relay cannot reach the wizard",
			blocked: true,
			wantErr: "a firewall on this VM may drop traffic from the Docker bridge to 127.0.0.1:",
		},
		{
			name:    "relay exits",
			hold:    true,
			wantErr: "the relay container exited with code 1",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			eng := newFakeEngine(t)
			eng.blocked = tt.blocked
			if tt.startErr != nil {
				eng.startErr = fmt.Errorf("engine: start c1: %w", tt.startErr)
			}
			port := testenv.FreePort(t)
			if tt.hold {
				ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
				if err != nil {
					t.Fatal(err)
				}
				defer ln.Close()
			}
			bin := writeELF(t, false)
			if tt.binary != nil {
				bin = tt.binary(t)
			}
			p := &ContainerPort80{Engine: eng, Binary: bin, HostPort: port, ReadyTimeout: 3 * time.Second}
			_, err := p.Start(context.Background(), http.NotFoundHandler())
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Start error %v, want one containing %q", err, tt.wantErr)
			}
			var le *ListenError
			if tt.wantKind != "" && (!errors.As(err, &le) || le.Kind != tt.wantKind) {
				t.Errorf("error %v is not a ListenError of kind %s", err, tt.wantKind)
			}
			if n := eng.count(); n != 0 {
				t.Errorf("%d containers left after a failed Start", n)
			}
		})
	}
}

// TestContainerPort80Live runs the relay container on the real Docker
// Engine, built from a static test executable with the relay subcommand.
func TestContainerPort80Live(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	eng, err := engine.New(ctx)
	if err != nil {
		testenv.Missing(t, "Docker Engine", "install Docker Engine 20.10+ and start it: "+err.Error())
	}
	t.Cleanup(func() { eng.Close() })

	bin := filepath.Join(t.TempDir(), "carto-setup")
	build := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", bin,
		"github.com/carto-setup/carto-setup/internal/relay/testdata/relaymain")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	port := testenv.FreePort(t)
	image := "carto-setup-port80-test:" + strconv.Itoa(port)
	t.Cleanup(func() {
		if err := eng.RemoveImage(context.Background(), image); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	p := &ContainerPort80{Engine: eng, Binary: bin, HostPort: port, Image: image}
	nonces := NewNonces(time.Now, time.Minute)
	stop, err := p.Start(ctx, NonceHandler(nonces, nil))
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	defer stop()
	running, err := eng.LabeledContainers(ctx, LabelPort80, strconv.Itoa(port))
	if err != nil || len(running) != 1 || !running[0].Running {
		t.Fatalf("relay containers = %+v, %v; want one running", running, err)
	}

	nonce := nonces.New()
	fetchNonce(t, port, nonce)
	if hits := nonces.Hits(nonce); len(hits) != 1 {
		t.Errorf("hits = %+v, want one", hits)
	} else {
		// Docker's proxy for a loopback client connects from the bridge
		// gateway; an outside client would appear as itself.
		t.Logf("the handler saw the request from %s", hits[0].Remote)
	}

	// From a non-loopback address of this host the request reaches the
	// container through Docker's NAT rather than its proxy, so the PROXY
	// line carries that address and the handler sees it.
	if ip := hostAddr(); ip.IsValid() {
		nonce := nonces.New()
		resp, err := (&http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: nil}}).
			Get("http://" + net.JoinHostPort(ip.String(), strconv.Itoa(port)) + NoncePath + nonce)
		if err != nil {
			t.Fatalf("GET through %s: %v", ip, err)
		}
		resp.Body.Close()
		hits := nonces.Hits(nonce)
		if resp.StatusCode != 200 || len(hits) != 1 || !strings.HasPrefix(hits[0].Remote, ip.String()+":") {
			t.Errorf("GET through %s = %d, hits %+v; want 200 and a hit from %s", ip, resp.StatusCode, hits, ip)
		}
	}

	stop()
	if left, err := eng.LabeledContainers(ctx, LabelPort80, strconv.Itoa(port)); err != nil || len(left) != 0 {
		t.Errorf("containers after stop = %+v, %v; want none", left, err)
	}
	if ok, err := eng.ContainerExists(ctx, running[0].ID); err != nil || ok {
		t.Errorf("ContainerExists after stop = %v, %v; want false", ok, err)
	}
	// The port is free again.
	ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		t.Errorf("port %d still held after stop: %v", port, err)
	} else {
		ln.Close()
	}
}

// hostAddr returns an IPv4 address of this host that is neither loopback
// nor on a Docker bridge, or the zero Addr.
func hostAddr() netip.Addr {
	ifs, _ := net.Interfaces()
	for _, ifi := range ifs {
		if ifi.Flags&net.FlagUp == 0 || ifi.Flags&net.FlagLoopback != 0 || strings.HasPrefix(ifi.Name, "docker") || strings.HasPrefix(ifi.Name, "br-") {
			continue
		}
		addrs, _ := ifi.Addrs()
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok {
				if ip, ok := netip.AddrFromSlice(ipn.IP); ok && ip.Unmap().Is4() {
					return ip.Unmap()
				}
			}
		}
	}
	return netip.Addr{}
}
