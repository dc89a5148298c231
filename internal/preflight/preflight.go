package preflight

import (
	"context"
	"crypto/x509"
	"io/fs"
	"net"
	"sync"
	"time"

	"github.com/carto-setup/carto-setup/internal/check"
	"github.com/carto-setup/carto-setup/internal/compose"
	"github.com/carto-setup/carto-setup/internal/engine"
)

// Step is the step name of every result Run returns.
const Step = "preflight"

// Engine is the part of the Docker Engine client preflight uses;
// *engine.Client satisfies it.
type Engine interface {
	Version(ctx context.Context) (engine.Version, error)
	Info(ctx context.Context) (engine.Info, error)
	Close() error
}

// Disk is what statfs reports about the filesystem holding a path.
type Disk struct {
	Free   uint64 // bytes an ordinary user may still write
	Size   uint64 // bytes in the filesystem
	Device uint64 // identifies the filesystem, to tell whether two paths share one
}

// Deps are the system readers the checks use. DefaultDeps returns the real
// ones; tests replace single fields.
type Deps struct {
	ReadFile func(name string) ([]byte, error) // /etc/os-release, /proc/meminfo, /proc/net/tcp
	Stat     func(name string) (fs.FileInfo, error)
	StatFS   func(path string) (Disk, error)
	NumCPU   int
	GOARCH   string

	// Engine connects to the Docker Engine; preflight closes what it gets.
	Engine   func(ctx context.Context) (Engine, error)
	LookPath compose.LookPathFunc
	Run      compose.RunFunc
	// DockerHost is $DOCKER_HOST; empty means the default local socket.
	DockerHost string

	Dial   func(ctx context.Context, network, addr string) (net.Conn, error)
	Listen func(network, addr string) (net.Listener, error)
	// PortOwner names the process listening on a TCP port, or returns ""
	// when that is not cheaply knowable. It may be nil.
	PortOwner func(port int) string
	// RootCAs verifies the egress TLS handshakes; nil means the system roots.
	RootCAs *x509.CertPool
}

// Bucket providers, as the answers file names them.
const (
	BucketsCartoManaged = "carto-managed"
	BucketsGCS          = "gcs"
	BucketsS3           = "s3"
	BucketsAzure        = "azure"
)

// Config is what the checks need to know about the planned install.
type Config struct {
	// ReleaseDir is the carto-selfhosted checkout.
	ReleaseDir string
	// Ports are the host ports the stack publishes; nil means the ones
	// CARTO's compose file publishes: router-http on 80 and 443 and
	// router-metrics on 5447. The wizard itself listens on 8443, which is
	// not among them.
	Ports []int
	// BucketProvider is one of the Buckets* constants; empty means
	// CARTO-managed. S3Region, S3Endpoint (for S3-compatible storage, a
	// host or URL) and AzureAccount name the custom bucket endpoint.
	BucketProvider string
	S3Region       string
	S3Endpoint     string
	AzureAccount   string
	// EgressTargets replaces the host:port list from EgressTargets(cfg);
	// tests use it.
	EgressTargets []string
	// EgressTimeout bounds each egress probe (DNS, connect and TLS
	// together); zero means DefaultEgressTimeout.
	EgressTimeout time.Duration
	// Demo is --demo: the stand-in release needs no egress and little
	// CPU and memory, so a machine that reaches no egress host gets one
	// IDOfflineDemo warning, and too few CPUs or too little memory warn
	// instead of failing.
	Demo bool
}

// DefaultEgressTimeout bounds each egress probe.
const DefaultEgressTimeout = 3 * time.Second

func (c Config) ports() []int {
	if c.Ports != nil {
		return c.Ports
	}
	return []int{80, 443, 5447}
}

func (c Config) egressTimeout() time.Duration {
	if c.EgressTimeout > 0 {
		return c.EgressTimeout
	}
	return DefaultEgressTimeout
}

// result starts a result; Run fills in the step.
func result(id string, status check.Status, measured, required, message, hint string) check.Result {
	return check.Result{ID: id, Status: status, Measured: measured, Required: required, Message: message, Hint: hint}
}

// Run runs every preflight check and returns their results in a stable
// order. The checks run concurrently; the egress probes are bounded by
// cfg.EgressTimeout, so Run takes a few seconds even with no network.
func Run(ctx context.Context, deps Deps, cfg Config) []check.Result {
	groups := []func() []check.Result{
		func() []check.Result {
			return []check.Result{
				checkOS(deps),
				checkArch(deps),
				checkCPU(deps),
				checkMemory(deps),
			}
		},
		func() []check.Result { return checkDisksAndDocker(ctx, deps, cfg) },
		func() []check.Result { return []check.Result{checkCompose(ctx, deps)} },
		func() []check.Result { return []check.Result{checkSocket(ctx, deps)} },
		func() []check.Result { return []check.Result{checkPorts(deps, cfg)} },
		func() []check.Result { return []check.Result{checkReleaseFiles(deps, cfg)} },
		func() []check.Result { return groupEgress(checkEgress(ctx, deps, cfg), cfg) },
	}
	out := make([][]check.Result, len(groups))
	var wg sync.WaitGroup
	for i, g := range groups {
		wg.Go(func() { out[i] = g() })
	}
	wg.Wait()
	var results []check.Result
	for _, rs := range out {
		for _, r := range rs {
			r.Step = Step
			if cfg.Demo {
				r = demoSized(r)
			}
			results = append(results, r)
		}
	}
	return results
}
