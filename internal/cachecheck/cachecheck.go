package cachecheck

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/carto-setup/carto-setup/internal/check"
	"github.com/carto-setup/carto-setup/internal/dbcheck"
)

// Step is the check.Result step of every cache result.
const Step = "cache"

// The stable result IDs, in the order Run reports them.
const (
	IDConfig  = "cache.config"
	IDConnect = "cache.connect"
	IDTLS     = "cache.tls"
	IDAuth    = "cache.auth"
	IDPing    = "cache.ping"
	IDVersion = "cache.version"
)

// The form field names results point at.
const (
	FieldHost     = "host"
	FieldPort     = "port"
	FieldPassword = "password"
	FieldTLS      = "tls"
	FieldCA       = "ca"
)

const (
	connectTimeout = 5 * time.Second
	runTimeout     = 15 * time.Second
	minMajor       = 6
)

// Config is what the cache part of the database step collects. With TLS
// the server certificate is verified against CAPEM, or the system CAs when
// it is empty, and must name Host, as CARTO's Node.js clients require.
type Config struct {
	Host     string
	Port     int
	Password string
	TLS      bool
	CAPEM    []byte
}

// Run checks the cache server and returns one result per stage reached; a
// failure ends the list. The run is bounded by 15 seconds and the
// connection by 5.
func Run(ctx context.Context, cfg Config) []check.Result {
	results, _ := Check(ctx, cfg)
	return results
}

// Check is Run that also returns the failure, if any, as a *CheckError
// whose Err holds the raw error for the log.
func Check(ctx context.Context, cfg Config) ([]check.Result, error) {
	ctx, cancel := context.WithTimeout(ctx, runTimeout)
	defer cancel()
	if cfg.Port == 0 {
		cfg.Port = 6379
	}
	var out []check.Result
	if strings.TrimSpace(cfg.Host) == "" || strings.ContainsAny(cfg.Host, " /\\") {
		out = append(out, fail(IDConfig, FieldHost, "Enter the cache host name or IP address, without a scheme or path.", ""))
	}
	if cfg.Port < 1 || cfg.Port > 65535 {
		out = append(out, fail(IDConfig, FieldPort, fmt.Sprintf("The port must be between 1 and 65535 (got %d).", cfg.Port), ""))
	}
	var roots *x509.CertPool
	if cfg.TLS && len(cfg.CAPEM) > 0 {
		var problem string
		if roots, problem = dbcheck.CAPool(cfg.CAPEM, time.Now()); problem != "" {
			out = append(out, fail(IDConfig, FieldCA, problem, "Upload the PEM file of the CA that signed the cache server's certificate."))
		}
	}
	if len(out) > 0 {
		for i := range out {
			out[i].Fixed = true // the input itself is unusable
		}
		return out, nil
	}

	s := &session{cfg: cfg, roots: roots}
	return s.run(ctx)
}

// session walks the stages of one check and remembers what it saw.
type session struct {
	cfg   Config
	roots *x509.CertPool

	mu              sync.Mutex
	clientCertAsked bool
	serverCert      *x509.Certificate
	localAddr       string
}

func (s *session) certAsked() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.clientCertAsked
}

func (s *session) run(ctx context.Context) ([]check.Result, error) {
	cfg := s.cfg
	hp := net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port))
	var out []check.Result

	d := net.Dialer{Timeout: connectTimeout}
	dctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	conn, err := d.DialContext(dctx, "tcp", hp)
	if err != nil {
		s.localAddr = localAddrFor(hp)
		return s.failed(out, IDConnect, err)
	}
	defer conn.Close()
	r := pass(IDConnect, FieldPort, fmt.Sprintf("%s accepts connections.", hp))
	r.Measured = conn.RemoteAddr().String()
	out = append(out, r)

	deadline, _ := ctx.Deadline()
	conn.SetDeadline(deadline)
	if cfg.TLS {
		tc := tls.Client(conn, s.tlsConfig())
		if err := tc.HandshakeContext(dctx); err != nil {
			return s.failed(out, IDTLS, err)
		}
		conn = tc
		r := pass(IDTLS, FieldTLS, "TLS: certificate and host name verified.")
		if s.roots != nil {
			r.Message = "TLS: certificate and host name verified against the uploaded CA."
		}
		r.Measured = tls.VersionName(tc.ConnectionState().Version)
		out = append(out, r)
	} else {
		r := pass(IDTLS, FieldTLS, "TLS is off: traffic to the cache, the password included, is not encrypted.")
		r.Measured = "off"
		out = append(out, r)
	}

	c := newClient(conn)
	if cfg.Password != "" {
		if _, err := c.do("AUTH", cfg.Password); err != nil {
			ce := classify(err, s.certAsked())
			if ce.Kind != NoPasswordConfigured {
				return s.failed(out, IDAuth, err)
			}
			out = append(out, result(IDAuth, FieldPassword, check.Warn,
				"A password was entered but the server does not require one.",
				"Clear the password, or set requirepass on the server (recommended when it is reachable from other hosts)."))
		} else {
			out = append(out, pass(IDAuth, FieldPassword, "The password was accepted."))
		}
	}

	pong, err := c.do("PING")
	if err != nil {
		return s.failed(out, IDPing, err)
	}
	if cfg.Password == "" {
		out = append(out, pass(IDAuth, FieldPassword, "The server does not require a password."))
	}
	r = pass(IDPing, "", "The server answers PING.")
	r.Measured = pong
	out = append(out, r)

	info, err := c.do("INFO", "server")
	if err != nil {
		r := result(IDVersion, "", check.Warn, "Could not read the server version (INFO server was refused).",
			"Make sure it is Redis 6 or Valkey 7 or later.")
		r.Required = "Redis 6 or later"
		return append(out, r), nil
	}
	return append(out, versionResult(info)), nil
}

// versionResult reads redis_version (and valkey_version) from INFO server.
func versionResult(info string) check.Result {
	v := infoField(info, "redis_version")
	name := "Redis " + v
	if vk := infoField(info, "valkey_version"); vk != "" {
		name = "Valkey " + vk
	}
	major, _ := strconv.Atoi(strings.SplitN(v, ".", 2)[0])
	var r check.Result
	switch {
	case v == "":
		r = result(IDVersion, "", check.Warn, "The server did not report its version.", "Make sure it is Redis 6 or later.")
	case major < minMajor:
		r = fail(IDVersion, FieldHost, fmt.Sprintf("%s is too old: CARTO needs Redis 6 or later.", name), "Upgrade the server or use another one.")
	default:
		r = pass(IDVersion, "", fmt.Sprintf("%s is supported.", name))
	}
	r.Measured = name
	r.Required = "Redis 6 or later"
	return r
}

// tlsConfig verifies like Node.js does by default: chain and host name.
// Verification runs in VerifyConnection so failures surface as distinct
// x509 errors, chain first.
func (s *session) tlsConfig() *tls.Config {
	host := s.cfg.Host
	return &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         host,
		InsecureSkipVerify: true, // verified below
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			s.mu.Lock()
			s.clientCertAsked = true
			s.mu.Unlock()
			return &tls.Certificate{}, nil
		},
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("cachecheck: server sent no certificate")
			}
			leaf := cs.PeerCertificates[0]
			s.mu.Lock()
			s.serverCert = leaf
			s.mu.Unlock()
			inter := x509.NewCertPool()
			for _, c := range cs.PeerCertificates[1:] {
				inter.AddCert(c)
			}
			if _, err := leaf.Verify(x509.VerifyOptions{Roots: s.roots, Intermediates: inter}); err != nil {
				return err
			}
			return leaf.VerifyHostname(host)
		},
	}
}

func result(id, field string, status check.Status, msg, hint string) check.Result {
	return check.Result{Step: Step, ID: id, Field: field, Status: status, Message: msg, Hint: hint}
}

func fail(id, field, msg, hint string) check.Result { return result(id, field, check.Fail, msg, hint) }

func pass(id, field, msg string) check.Result { return result(id, field, check.Pass, msg, "") }

// failed appends the result for err at stage id and returns the classified
// error.
func (s *session) failed(out []check.Result, id string, err error) ([]check.Result, error) {
	ce := classify(err, s.certAsked())
	r := s.failure(id, ce)
	r.Fixed = ce.Kind.Fixed() && r.Status == check.Fail
	return append(out, r), ce
}

// failure words a classified failure. id is the stage it happened at,
// which decides the wording of timeouts and closed connections.
func (s *session) failure(id string, ce *CheckError) check.Result {
	cfg := s.cfg
	hp := net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port))
	s.mu.Lock()
	cert := s.serverCert
	s.mu.Unlock()
	switch ce.Kind {
	case NotResolved:
		return fail(IDConnect, FieldHost, fmt.Sprintf("The name %q does not resolve.", cfg.Host),
			"Check the spelling, and that this VM's DNS can see the name (private zones resolve only inside their network).")
	case Refused:
		return fail(IDConnect, FieldPort, fmt.Sprintf("%s refused the connection: nothing listens on that port, or a firewall rejects it.", hp),
			"Check the port (Redis's default is 6379; managed services often use another one for TLS).")
	case Unreachable:
		return fail(IDConnect, FieldHost, fmt.Sprintf("There is no network route from this VM to %s.", cfg.Host),
			"Check that the VM and the cache share a network.")
	case Timeout:
		if id == IDConnect {
			addr := "this VM's address"
			if s.localAddr != "" {
				addr = s.localAddr + " (or the VM's public IP behind NAT)"
			}
			return result(IDConnect, FieldHost, check.Error, fmt.Sprintf("%s did not answer within %s; a firewall is probably dropping the traffic.", hp, connectTimeout),
				fmt.Sprintf("Allow connections from %s in the cache's firewall, security group or authorized networks.", addr))
		}
		if id == IDTLS {
			return result(IDTLS, FieldTLS, check.Error, "The server accepted the connection but did not complete the TLS handshake in time.",
				"Check that the server has TLS enabled on this port, or turn TLS off.")
		}
		return result(id, "", check.Error, "The server stopped answering.", "Check that this port is Redis or Valkey; if the server uses TLS, turn TLS on.")
	case Closed:
		if id == IDTLS {
			return fail(IDTLS, FieldTLS, "The server closed the connection during the TLS handshake.",
				"Check that this port serves TLS 1.2 or later.")
		}
		msg := "The server closed the connection."
		hint := "Check that this port is Redis or Valkey."
		if !cfg.TLS {
			msg = "The server closed the connection without answering; it probably expects TLS."
			hint = "Turn TLS on (managed services such as Memorystore with in-transit encryption, ElastiCache or Azure Cache require it)."
		}
		return fail(id, FieldTLS, msg, hint)
	case NotTLS:
		return fail(IDTLS, FieldTLS, "The server answered in plain text: it does not use TLS on this port.",
			"Turn TLS off, or use the server's TLS port.")
	case UnknownCA:
		msg := "The server's certificate is not signed by a CA this VM trusts."
		if s.roots != nil {
			msg = "The server's certificate is not signed by the uploaded CA."
		}
		r := fail(IDTLS, FieldCA, msg, "Upload the CA that issued the cache server's certificate (for Memorystore, its server CA).")
		if cert != nil {
			r.Measured = "issued by " + cert.Issuer.String()
		}
		return r
	case NameMismatch:
		r := fail(IDTLS, FieldHost, fmt.Sprintf("The server certificate is not valid for %q.", cfg.Host),
			"Enter the host exactly as the certificate names it; CARTO checks the name.")
		if cert != nil {
			names := append([]string{}, cert.DNSNames...)
			for _, ip := range cert.IPAddresses {
				names = append(names, ip.String())
			}
			r.Measured = "certificate names: " + strings.Join(names, ", ")
		}
		return r
	case Expired:
		msg := "The server certificate, or a CA in its chain, has expired or is not valid yet."
		if cert != nil && time.Now().After(cert.NotAfter) {
			msg = fmt.Sprintf("The server certificate expired on %s.", cert.NotAfter.UTC().Format(time.DateOnly))
		}
		return fail(IDTLS, FieldTLS, msg, "Renew the cache server's certificate.")
	case TLSFailed:
		return fail(IDTLS, FieldTLS, "The TLS handshake with the server failed.", "Check that this port serves TLS 1.2 or later.")
	case ClientCertRequired:
		return fail(IDTLS, FieldTLS, "The server requires a client certificate (mutual TLS), which CARTO does not support.",
			"Allow clients without a certificate (tls-auth-clients no or optional).")
	case NoAuth:
		return fail(IDAuth, FieldPassword, "The server requires a password.", "Enter the cache password (requirepass, or the AUTH string of the managed service).")
	case WrongPassword:
		return fail(IDAuth, FieldPassword, "The server rejected the password.", "Check the password; CARTO logs in as the default user.")
	case NoPasswordConfigured:
		return result(IDAuth, FieldPassword, check.Warn, "A password was entered but the server does not require one.", "Clear the password.")
	case Denied:
		return fail(id, FieldPassword, "The server refuses remote clients (protected mode).",
			"Set a password (requirepass) on the server, or bind it explicitly and turn protected-mode off.")
	case Unavailable:
		return result(id, "", check.Error, "The server is still loading its data.", "Try again in a moment.")
	case NotRedis:
		return fail(id, FieldPort, "The server did not answer like Redis or Valkey.", "Check the host and port.")
	}
	return result(id, FieldHost, check.Error, "The check failed for an unexpected reason; the details are in the wizard's log.",
		"Check that host and port point at Redis or Valkey.")
}

// localAddrFor returns the local IP this VM would use to reach addr,
// without sending anything.
func localAddrFor(addr string) string {
	c, err := net.Dial("udp", addr)
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
