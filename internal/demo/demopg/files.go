package demopg

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/carto-setup/carto-setup/internal/atomicfile"
)

// AccessError says that the user PostgreSQL runs as cannot pass through a
// directory above the demo database, so the server could not read its
// cluster.
type AccessError struct {
	Dir  string // the directory that stops it
	User string // the user the server runs as
}

func (e *AccessError) Error() string {
	return fmt.Sprintf("demopg: PostgreSQL runs as the %s user, which may not enter %s: run carto-setup as an ordinary user in the docker group, or keep its state directory (--state-dir) where %s can pass, such as under /var/lib",
		e.User, e.Dir, e.User)
}

// prepareDirs makes Dir, the cluster directory and the run directory,
// owned so that the server's user can use them and nobody else can read
// them.
func (s *Server) prepareDirs() error {
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return fmt.Errorf("demopg: %w", err)
	}
	if s.cred != nil {
		// Root runs the server as postgres: it passes through Dir and the
		// state directory by group, and reads nothing there but its own
		// directories (every file of carto-setup's is 0600).
		for _, d := range []string{s.dir, filepath.Dir(s.dir)} {
			if err := s.givePassage(d); err != nil {
				return err
			}
		}
		if err := s.checkPassage(); err != nil {
			return err
		}
	}
	for _, d := range []string{dataDir, runDir} {
		p := filepath.Join(s.dir, d)
		if err := os.Mkdir(p, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
			return fmt.Errorf("demopg: %w", err)
		}
		if err := s.chown(p); err != nil {
			return err
		}
	}
	return nil
}

// givePassage lets the server's group enter dir without reading it, when
// this user owns dir and the group cannot enter it yet.
func (s *Server) givePassage(dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("demopg: %w", err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || int(st.Uid) != os.Geteuid() || fi.Mode().Perm()&0o001 != 0 {
		return nil
	}
	if st.Gid == s.cred.Gid && fi.Mode().Perm()&0o010 != 0 {
		return nil
	}
	if err := os.Chown(dir, -1, int(s.cred.Gid)); err != nil {
		return fmt.Errorf("demopg: give the postgres group passage through %s: %w", dir, err)
	}
	if err := os.Chmod(dir, fi.Mode().Perm()|0o010); err != nil {
		return fmt.Errorf("demopg: give the postgres group passage through %s: %w", dir, err)
	}
	return nil
}

// checkPassage walks from / to Dir and reports the first directory the
// server's user may not enter.
func (s *Server) checkPassage() error {
	groups := map[uint32]bool{s.cred.Gid: true}
	name := strconv.FormatUint(uint64(s.cred.Uid), 10)
	if u, err := user.LookupId(name); err == nil {
		name = u.Username
		if ids, err := u.GroupIds(); err == nil {
			for _, id := range ids {
				if n, err := strconv.ParseUint(id, 10, 32); err == nil {
					groups[uint32(n)] = true
				}
			}
		}
	}
	parts := strings.Split(filepath.Clean(s.dir), string(filepath.Separator))
	path := string(filepath.Separator)
	for _, part := range parts {
		path = filepath.Join(path, part)
		fi, err := os.Stat(path)
		if err != nil {
			return fmt.Errorf("demopg: %w", err)
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			continue
		}
		perm := fi.Mode().Perm()
		switch {
		case st.Uid == s.cred.Uid:
			ok = perm&0o100 != 0
		case groups[st.Gid]:
			ok = perm&0o010 != 0
		default:
			ok = perm&0o001 != 0
		}
		if !ok {
			return &AccessError{Dir: path, User: name}
		}
	}
	return nil
}

// chown gives path to the server's user when that is not this user.
func (s *Server) chown(path string) error {
	if s.cred == nil {
		return nil
	}
	if err := os.Chown(path, int(s.cred.Uid), int(s.cred.Gid)); err != nil {
		return fmt.Errorf("demopg: %w", err)
	}
	return nil
}

// writeOwned writes a 0600 file the server reads.
func (s *Server) writeOwned(path string, data []byte) error {
	if err := atomicfile.WriteFile(path, data, 0o600); err != nil {
		return fmt.Errorf("demopg: %w", err)
	}
	return s.chown(path)
}

// writeConfig writes the settings carto-setup owns and pg_hba.conf for this
// start.
func (s *Server) writeConfig(opts Options) error {
	data := filepath.Join(s.dir, dataDir)
	if err := s.writeOwned(filepath.Join(data, confFile), []byte(renderConf(s.host.String(), s.port, filepath.Join(s.dir, runDir), opts.TLS))); err != nil {
		return err
	}
	return s.writeOwned(filepath.Join(data, "pg_hba.conf"), []byte(renderHBA(s.host.String(), hostAddrs(), opts)))
}

// hostAddrs returns this host's own IPv4 addresses. The host's connections
// to the bridge gateway do not always come from the gateway address:
// Docker's MASQUERADE rule for the bridge subnet rewrites them to the
// address of the interface they leave by (on the project machines the
// server sees 192.0.2.2, eth0's address).
func hostAddrs() []netip.Addr {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	var out []netip.Addr
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		if ip, ok := netip.AddrFromSlice(ipn.IP); ok && ip.Unmap().Is4() && !slices.Contains(out, ip.Unmap()) {
			out = append(out, ip.Unmap())
		}
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return out
}

// renderConf is the server's settings: one listen address, messages in
// English (dbcheck reads them), small memory.
func renderConf(listen string, port int, socketDir string, tlsOn bool) string {
	var b strings.Builder
	b.WriteString("# Written by carto-setup at every start of the demo database; edits are lost.\n")
	fmt.Fprintf(&b, "listen_addresses = '%s'\n", listen)
	fmt.Fprintf(&b, "port = %d\n", port)
	fmt.Fprintf(&b, "unix_socket_directories = '%s'\n", socketDir)
	b.WriteString("max_connections = 100\nshared_buffers = 32MB\n")
	b.WriteString("password_encryption = 'scram-sha-256'\nlc_messages = 'C'\nlogging_collector = off\n")
	if tlsOn {
		b.WriteString("ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\nssl_min_protocol_version = 'TLSv1.2'\n")
	} else {
		b.WriteString("ssl = off\n")
	}
	return b.String()
}

// renderHBA admits password (SCRAM) logins on the socket, from the listen
// address and the host's own addresses (the host's connections) and from
// the allowed subnets; with TLS every TCP login must use it.
func renderHBA(listen string, host []netip.Addr, opts Options) string {
	kind := "host"
	if opts.TLS {
		kind = "hostssl"
	}
	var b strings.Builder
	b.WriteString("# Written by carto-setup at every start of the demo database; edits are lost.\n")
	b.WriteString("local all all scram-sha-256\n")
	fmt.Fprintf(&b, "%s all all %s/32 scram-sha-256\n", kind, listen)
	for _, a := range host {
		if a.String() != listen {
			fmt.Fprintf(&b, "%s all all %s/32 scram-sha-256\n", kind, a)
		}
	}
	for _, p := range opts.AllowSubnets {
		if p.Addr().Is4() {
			fmt.Fprintf(&b, "%s all all %s scram-sha-256\n", kind, p.Masked())
		}
	}
	return b.String()
}
