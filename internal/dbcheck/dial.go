package dbcheck

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// progress records how far one connection attempt got, so that a failure
// is reported at the stage where it happened, with what was seen on the way.
type progress struct {
	addrs           []string // what the host resolved to
	resolved        bool
	connected       bool // a TCP connection was established
	tlsDone         bool
	tlsVersion      uint16
	clientCertAsked bool
	serverCert      *x509.Certificate
	localAddr       string // this VM's address as used for the attempt
	remoteAddr      string
}

// attempt is the progress of a connection attempt, updated from pgx's
// lookup and dial hooks.
type attempt struct {
	mu sync.Mutex
	p  progress
}

func (a *attempt) update(f func(p *progress)) {
	a.mu.Lock()
	defer a.mu.Unlock()
	f(&a.p)
}

// snapshot returns a copy that is safe to read without the lock.
func (a *attempt) snapshot() progress {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.p
}

// lookup resolves host and records the result.
func (a *attempt) lookup(ctx context.Context, host string) ([]string, error) {
	addrs, err := net.DefaultResolver.LookupHost(ctx, host)
	if err == nil {
		a.update(func(p *progress) { p.resolved, p.addrs = true, addrs })
	}
	return addrs, err
}

// dial connects to addr and, when tlsConf is set, negotiates TLS the way
// libpq does (SSLRequest, then the handshake). Doing TLS here rather than in
// pgx lets the check tell "server does not offer TLS" and certificate
// failures apart with typed errors.
func (a *attempt) dial(tlsConf *tls.Config, timeout time.Duration) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		a.update(func(p *progress) { p.remoteAddr = addr })
		d := net.Dialer{Timeout: timeout}
		conn, err := d.DialContext(ctx, network, addr)
		if err != nil {
			local := localAddrFor(network, addr)
			a.update(func(p *progress) { p.localAddr = local })
			return nil, err
		}
		local := conn.LocalAddr().String()
		if h, _, err := net.SplitHostPort(local); err == nil {
			local = h
		}
		a.update(func(p *progress) { p.connected, p.localAddr = true, local })
		if tlsConf == nil {
			return conn, nil
		}
		deadline, ok := ctx.Deadline()
		if !ok {
			deadline = time.Now().Add(timeout)
		}
		conn.SetDeadline(deadline)
		if err := sslRequest(conn); err != nil {
			conn.Close()
			return nil, err
		}
		tc := tls.Client(conn, tlsConf)
		if err := tc.HandshakeContext(ctx); err != nil {
			conn.Close()
			return nil, err
		}
		conn.SetDeadline(time.Time{})
		version := tc.ConnectionState().Version
		a.update(func(p *progress) { p.tlsDone, p.tlsVersion = true, version })
		return tc, nil
	}
}

// sslRequest asks the server to switch to TLS. The server answers one byte:
// S to go ahead, N when it does not offer TLS.
func sslRequest(conn net.Conn) error {
	var msg [8]byte
	binary.BigEndian.PutUint32(msg[0:4], 8)
	binary.BigEndian.PutUint32(msg[4:8], 80877103)
	if _, err := conn.Write(msg[:]); err != nil {
		return fmt.Errorf("dbcheck: send sslrequest: %w", err)
	}
	var resp [1]byte
	if _, err := io.ReadFull(conn, resp[:]); err != nil {
		return fmt.Errorf("dbcheck: read sslrequest answer: %w", err)
	}
	switch resp[0] {
	case 'S':
		return nil
	case 'N':
		return &CheckError{Kind: NoTLS, Err: errors.New("dbcheck: server answered N to sslrequest")}
	}
	return &CheckError{Kind: TLSFailed, Err: fmt.Errorf("dbcheck: unexpected sslrequest answer %q", resp[0])}
}

// tlsConfig builds the client TLS settings for mode. Verification runs in
// VerifyConnection so that chain and host-name failures surface as distinct
// x509 errors, chain first; roots nil means the system roots.
func (a *attempt) tlsConfig(mode, host string, roots *x509.CertPool, now func() time.Time) *tls.Config {
	if mode == SSLDisable {
		return nil
	}
	verifyChain := mode != SSLRequire || roots != nil
	return &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         host,
		InsecureSkipVerify: true, // verified below, per mode
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			a.update(func(p *progress) { p.clientCertAsked = true })
			return &tls.Certificate{}, nil
		},
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("dbcheck: server sent no certificate")
			}
			leaf := cs.PeerCertificates[0]
			a.update(func(p *progress) { p.serverCert = leaf })
			if !verifyChain {
				return nil
			}
			inter := x509.NewCertPool()
			for _, c := range cs.PeerCertificates[1:] {
				inter.AddCert(c)
			}
			opts := x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: now()}
			if _, err := leaf.Verify(opts); err != nil {
				return err
			}
			if mode == SSLVerifyFull {
				return leaf.VerifyHostname(host)
			}
			return nil
		},
	}
}

// localAddrFor returns the local IP this VM would use to reach addr. It
// "connects" a UDP socket, which sends nothing, so it works even when the
// TCP attempt timed out.
func localAddrFor(network, addr string) string {
	udp := "udp"
	switch network {
	case "tcp4":
		udp = "udp4"
	case "tcp6":
		udp = "udp6"
	}
	c, err := net.Dial(udp, addr)
	if err != nil {
		return ""
	}
	defer c.Close()
	h, _, err := net.SplitHostPort(c.LocalAddr().String())
	if err != nil {
		return ""
	}
	return h
}
