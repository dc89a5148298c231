package preflight

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"syscall"

	"github.com/carto-setup/carto-setup/internal/check"
)

// tcpListenState is the st column of a listening socket in /proc/net/tcp.
const tcpListenState = "0A"

// procNetListeners parses /proc/net/tcp or /proc/net/tcp6 and returns the
// socket inode of every listening socket by local port.
func procNetListeners(b []byte) map[int][]string {
	m := map[int][]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 10 || f[3] != tcpListenState {
			continue
		}
		_, hexPort, ok := strings.Cut(f[1], ":")
		if !ok {
			continue
		}
		port, err := strconv.ParseUint(hexPort, 16, 16)
		if err != nil {
			continue
		}
		m[int(port)] = append(m[int(port)], f[9])
	}
	return m
}

// listening reports whether the kernel lists a listener on port, from
// /proc/net/tcp and tcp6. It is the fallback when binding is not allowed.
func listening(deps Deps, port int) (bool, error) {
	var read bool
	for _, name := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := deps.ReadFile(name)
		if err != nil {
			continue
		}
		read = true
		if len(procNetListeners(b)[port]) > 0 {
			return true, nil
		}
	}
	if !read {
		return false, errors.New("preflight: ports: cannot read /proc/net/tcp")
	}
	return false, nil
}

// portState is one port's outcome: "free", "in use" or "unknown".
type portState struct {
	port   int
	state  string
	owner  string
	docker bool // held by docker-proxy, i.e. a published container port
}

func probePort(deps Deps, port int) portState {
	ps := portState{port: port}
	l, err := deps.Listen("tcp", fmt.Sprintf(":%d", port))
	switch {
	case err == nil:
		l.Close()
		ps.state = "free"
		return ps
	case errors.Is(err, syscall.EADDRINUSE):
		ps.state = "in use"
	case errors.Is(err, syscall.EACCES):
		// An ordinary user may not bind below 1024; Docker binds for the
		// stack, so ask the kernel whether anything listens instead.
		inUse, err := listening(deps, port)
		switch {
		case err != nil:
			ps.state = "unknown"
			return ps
		case !inUse:
			ps.state = "free"
			return ps
		}
		ps.state = "in use"
	default:
		ps.state = "unknown"
		return ps
	}
	if deps.PortOwner != nil {
		ps.owner = deps.PortOwner(port)
		ps.docker = strings.HasPrefix(ps.owner, "docker-proxy")
	}
	return ps
}

func checkPorts(deps Deps, cfg Config) check.Result {
	const id = "preflight.ports"
	var (
		required        = "TCP ports " + joinPorts(cfg.ports()) + " free"
		parts, taken    []string
		unknown, docker int
	)
	for _, p := range cfg.ports() {
		ps := probePort(deps, p)
		s := fmt.Sprintf("%d %s", p, ps.state)
		if ps.owner != "" {
			s += " by " + ps.owner
		}
		parts = append(parts, s)
		switch ps.state {
		case "in use":
			taken = append(taken, strconv.Itoa(p))
			if ps.docker {
				docker++
			}
		case "unknown":
			unknown++
		}
	}
	measured := strings.Join(parts, ", ")
	switch {
	case len(taken) > 0 && docker == len(taken):
		return result(id, check.Warn, measured, required,
			"Port "+strings.Join(taken, ", ")+" is already published by a Docker container; if that is this CARTO install, this is expected.",
			"Otherwise stop the container that publishes it (docker ps shows it) before installing.")
	case len(taken) > 0:
		// Docker cannot publish a port another program holds, so the
		// install would stop at docker-compose up: no override.
		r := result(id, check.Fail, measured, required,
			"Port "+strings.Join(taken, ", ")+" is already in use on this VM; CARTO's router publishes 80 and 443 and router-metrics 5447.",
			"Stop or move the service that listens there (sudo ss -ltnp shows which), for example a web server: sudo systemctl disable --now nginx apache2.")
		r.Fixed = true
		return r
	case unknown > 0:
		return result(id, check.Error, measured, required,
			"Could not tell whether every port is free.", "Check with sudo ss -ltnp that nothing listens on "+joinPorts(cfg.ports())+".")
	}
	return result(id, check.Pass, measured, required, "The ports CARTO publishes are free.", "")
}

func joinPorts(ports []int) string {
	s := make([]string, len(ports))
	for i, p := range ports {
		s[i] = strconv.Itoa(p)
	}
	return strings.Join(s, ", ")
}
