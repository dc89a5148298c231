package preflight

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"

	"github.com/carto-setup/carto-setup/internal/compose"
	"github.com/carto-setup/carto-setup/internal/engine"
)

// DefaultDeps returns the real system readers. getenv supplies DOCKER_HOST.
func DefaultDeps(getenv func(string) string) Deps {
	var d net.Dialer
	return Deps{
		ReadFile: os.ReadFile,
		Stat:     os.Stat,
		StatFS:   statFS,
		NumCPU:   runtime.NumCPU(),
		GOARCH:   runtime.GOARCH,
		Engine: func(ctx context.Context) (Engine, error) {
			c, err := engine.New(ctx)
			if err != nil {
				return nil, err // not c: a nil *engine.Client in an interface is not nil
			}
			return c, nil
		},
		LookPath:   exec.LookPath,
		Run:        compose.Exec,
		DockerHost: getenv("DOCKER_HOST"),
		Dial:       d.DialContext,
		Listen:     net.Listen,
		PortOwner:  func(port int) string { return portOwner(os.ReadFile, "/proc", port) },
	}
}

// statFS measures the filesystem holding path.
func statFS(path string) (Disk, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return Disk{}, fmt.Errorf("preflight: %w", &os.PathError{Op: "statfs", Path: path, Err: err})
	}
	fi, err := os.Stat(path)
	if err != nil {
		return Disk{}, fmt.Errorf("preflight: stat %s: %w", path, err)
	}
	var dev uint64
	if sys, ok := fi.Sys().(*syscall.Stat_t); ok {
		dev = uint64(sys.Dev)
	}
	bsize := uint64(st.Bsize)
	return Disk{Free: st.Bavail * bsize, Size: st.Blocks * bsize, Device: dev}, nil
}

// portOwner finds the process whose socket listens on port by matching the
// socket inode from /proc/net/tcp{,6} against the /proc/PID/fd links. An
// ordinary user sees only its own processes' descriptors, so this is best
// effort: it returns "" when it cannot tell.
func portOwner(readFile func(string) ([]byte, error), proc string, port int) string {
	inodes := map[string]bool{}
	for _, name := range []string{"net/tcp", "net/tcp6"} {
		b, err := readFile(filepath.Join(proc, name))
		if err != nil {
			continue
		}
		for _, ino := range procNetListeners(b)[port] {
			inodes["socket:["+ino+"]"] = true
		}
	}
	if len(inodes) == 0 {
		return ""
	}
	pids, err := os.ReadDir(proc)
	if err != nil {
		return ""
	}
	for _, p := range pids {
		if p.Name()[0] < '0' || p.Name()[0] > '9' {
			continue
		}
		fdDir := filepath.Join(proc, p.Name(), "fd")
		fds, err := os.ReadDir(fdDir)
		if err != nil {
			continue
		}
		for _, fd := range fds {
			link, err := os.Readlink(filepath.Join(fdDir, fd.Name()))
			if err != nil || !inodes[link] {
				continue
			}
			comm, err := readFile(filepath.Join(proc, p.Name(), "comm"))
			if err != nil {
				return "pid " + p.Name()
			}
			return strings.TrimSpace(string(comm)) + " (pid " + p.Name() + ")"
		}
	}
	return ""
}
