package dbcheck

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/carto-setup/carto-setup/internal/check"
)

// Step is the check.Result step of every database result.
const Step = "database"

// The stable result IDs, in the order Run reports them.
const (
	IDConfig            = "database.config"
	IDResolve           = "database.resolve"
	IDConnect           = "database.connect"
	IDTLS               = "database.tls"
	IDAuth              = "database.auth"
	IDAdminDatabase     = "database.admin_database"
	IDVersion           = "database.version"
	IDPrivileges        = "database.privileges"
	IDWorkspaceRole     = "database.workspace_role"
	IDWorkspaceDatabase = "database.workspace_database"
	IDEncoding          = "database.encoding"
	IDPgcrypto          = "database.pgcrypto"
)

const (
	connectTimeout = 5 * time.Second
	runTimeout     = 20 * time.Second
	minVersionNum  = 140000
	minVersionText = "14 or later"
)

// cloudAdminRoles returns the roles managed services give their admin user
// instead of SUPERUSER; members can create roles and databases.
func cloudAdminRoles() []string {
	return []string{"cloudsqlsuperuser", "rds_superuser", "azure_pg_admin"}
}

// Run checks the database described by cfg and returns one result per
// stage reached. A failed connection ends the list at the stage that failed:
// later checks need a session. The whole run is bounded by a 20-second
// timeout and the connection attempt by 5 seconds.
func Run(ctx context.Context, cfg Config) []check.Result {
	results, _ := Check(ctx, cfg)
	return results
}

// Check is Run that also returns the connection failure, if any, as a
// *CheckError whose Err holds the raw driver error for the log.
func Check(ctx context.Context, cfg Config) ([]check.Result, error) {
	ctx, cancel := context.WithTimeout(ctx, runTimeout)
	defer cancel()
	cfg = cfg.withDefaults()

	var results []check.Result
	for _, p := range cfg.validate() {
		results = append(results, fixed(fail(IDConfig, p.field, p.message, "")))
	}
	var roots *x509.CertPool
	if cfg.SSL && len(cfg.CAPEM) > 0 {
		var problem string
		if roots, problem = CAPool(cfg.CAPEM, time.Now()); problem != "" {
			results = append(results, fixed(fail(IDConfig, FieldCA, problem, "Upload the PEM file of the CA that signed the database server's certificate.")))
		}
	}
	if len(results) > 0 {
		return results, nil
	}

	a := &attempt{}
	conn, err := connect(ctx, cfg, a, roots)
	st := a.snapshot()
	if err != nil {
		ce := classify(err, st.clientCertAsked)
		return append(results, connectFailure(cfg, ce, st, roots != nil)...), ce
	}
	defer conn.Close(context.Background())
	results = append(results, connectPasses(cfg, st, roots != nil)...)
	results = append(results, sessionChecks(ctx, conn, cfg)...)
	return results, nil
}

// connect opens the admin session with the TLS settings of cfg.
func connect(ctx context.Context, cfg Config, a *attempt, roots *x509.CertPool) (*pgx.Conn, error) {
	// Placeholders keep ParseConfig from reading a password file; every
	// field that matters is set below, so PG* environment variables do not
	// leak into the check.
	pc, err := pgx.ParseConfig("host=localhost port=5432 user=x password=x dbname=x sslmode=disable")
	if err != nil {
		return nil, fmt.Errorf("dbcheck: parse config: %w", err)
	}
	pc.Host = cfg.Host
	pc.Port = uint16(cfg.Port)
	pc.User = cfg.AdminUser
	pc.Password = cfg.AdminPassword
	pc.Database = cfg.AdminDatabase
	pc.TLSConfig = nil
	pc.Fallbacks = nil
	pc.ValidateConnect = nil
	pc.AfterConnect = nil
	pc.ConnectTimeout = connectTimeout
	pc.RuntimeParams = map[string]string{"application_name": "carto-setup check"}
	pc.LookupFunc = a.lookup
	pc.DialFunc = a.dial(a.tlsConfig(cfg.SSLMode, cfg.Host, roots, time.Now), connectTimeout)
	pc.DefaultQueryExecMode = pgx.QueryExecModeExec
	cctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	return pgx.ConnectConfig(cctx, pc)
}

func result(id, field string, status check.Status, msg, hint string) check.Result {
	return check.Result{Step: Step, ID: id, Field: field, Status: status, Message: msg, Hint: hint}
}

func fail(id, field, msg, hint string) check.Result { return result(id, field, check.Fail, msg, hint) }

func pass(id, field, msg string) check.Result { return result(id, field, check.Pass, msg, "") }

// fixed marks a failure no override can get past.
func fixed(r check.Result) check.Result {
	r.Fixed = r.Status == check.Fail
	return r
}

func hostPort(cfg Config) string { return net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port)) }

// connectPasses lists the stages a successful connection went through.
func connectPasses(cfg Config, st progress, withCA bool) []check.Result {
	return []check.Result{
		resolvePass(cfg, st),
		connectPass(cfg, st),
		tlsPass(cfg, st, withCA),
		pass(IDAuth, FieldAdminPassword, fmt.Sprintf("Logged in as %s.", cfg.AdminUser)),
		pass(IDAdminDatabase, FieldAdminDatabase, fmt.Sprintf("The admin database %q exists.", cfg.AdminDatabase)),
	}
}

func resolvePass(cfg Config, st progress) check.Result {
	r := pass(IDResolve, FieldHost, fmt.Sprintf("%s resolves.", cfg.Host))
	r.Measured = strings.Join(st.addrs, ", ")
	return r
}

func connectPass(cfg Config, st progress) check.Result {
	r := pass(IDConnect, FieldPort, fmt.Sprintf("%s accepts connections.", hostPort(cfg)))
	r.Measured = st.remoteAddr
	return r
}

func tlsPass(cfg Config, st progress, withCA bool) check.Result {
	if cfg.SSLMode == SSLDisable {
		r := pass(IDTLS, FieldSSLMode, "TLS is off: traffic to the database, passwords included, is not encrypted.")
		r.Measured = "off"
		return r
	}
	var how string
	switch {
	case cfg.SSLMode == SSLRequire && !withCA:
		how = "encrypted; the certificate is not verified (SSL mode require)"
	case cfg.SSLMode == SSLVerifyFull && withCA:
		how = "certificate and host name verified against the uploaded CA"
	case cfg.SSLMode == SSLVerifyFull:
		how = "certificate and host name verified against the system CAs"
	case withCA:
		how = "certificate verified against the uploaded CA; host name not checked"
	default:
		how = "certificate verified against the system CAs; host name not checked"
	}
	r := pass(IDTLS, FieldSSLMode, "TLS: "+how+".")
	r.Measured = tls.VersionName(st.tlsVersion)
	return r
}

// vmAddress names this VM for a firewall rule: the configured address, or
// the local address the attempt used.
func vmAddress(cfg Config, st progress) string {
	switch {
	case cfg.VMAddress != "":
		return cfg.VMAddress
	case st.localAddr != "":
		return st.localAddr + " (or the VM's public IP if it reaches the database through NAT)"
	}
	return "this VM's public IP"
}

// connectFailure turns a failed connection into results: passes for the
// stages that worked, then the failure at the stage it belongs to.
func connectFailure(cfg Config, ce *CheckError, st progress, withCA bool) []check.Result {
	var out []check.Result
	if st.resolved {
		out = append(out, resolvePass(cfg, st))
	}
	if st.connected && ce.Kind != Refused && ce.Kind != Unreachable {
		out = append(out, connectPass(cfg, st))
	}
	tlsWanted := cfg.SSLMode != SSLDisable
	if st.connected && (st.tlsDone || !tlsWanted) && ce.Kind != ClientCertRequired {
		out = append(out, tlsPass(cfg, st, withCA))
	}
	if ce.Kind == NoDatabase || ce.Kind == NoPrivilege {
		// PostgreSQL authenticates before it looks the database up.
		out = append(out, pass(IDAuth, FieldAdminPassword, fmt.Sprintf("Logged in as %s.", cfg.AdminUser)))
	}
	hp := hostPort(cfg)
	firewall := fmt.Sprintf("Allow connections from %s: on Cloud SQL add it to Authorized networks, on AWS RDS to the security group, on Azure to the server's firewall rules.", vmAddress(cfg, st))
	var r check.Result
	switch ce.Kind {
	case NotResolved:
		r = fail(IDResolve, FieldHost, fmt.Sprintf("The name %q does not resolve.", cfg.Host),
			"Check the spelling, and that this VM's DNS can see the name: private zones (for example a private IP of Cloud SQL or RDS) resolve only inside their network.")
	case Refused:
		r = fail(IDConnect, FieldPort, fmt.Sprintf("%s refused the connection: nothing listens on that port, or a firewall rejects it.", hp),
			"Check the port (PostgreSQL's default is 5432) and that the server listens on a network address (listen_addresses), not only on localhost.")
	case Unreachable:
		r = fail(IDConnect, FieldHost, fmt.Sprintf("There is no network route from this VM to %s.", cfg.Host),
			"Check that the VM and the database share a network (VPC peering, private service access) or that the database has a public address.")
	case Timeout:
		switch {
		case !st.resolved:
			r = result(IDResolve, FieldHost, check.Error, fmt.Sprintf("Looking up %q did not finish in time.", cfg.Host),
				"Check this VM's DNS servers (/etc/resolv.conf).")
		case !st.connected:
			r = result(IDConnect, FieldHost, check.Error, fmt.Sprintf("%s did not answer within %s; a firewall is probably dropping the traffic.", hp, connectTimeout), firewall)
		case tlsWanted && !st.tlsDone:
			r = result(IDTLS, FieldSSLMode, check.Error, fmt.Sprintf("%s accepted the connection but did not complete the TLS handshake in time.", hp),
				"Check that this port is PostgreSQL itself and not a proxy that expects something else.")
		default:
			r = result(IDAuth, FieldAdminUser, check.Error, "The server did not finish the login in time.", "Try again; if it persists the server may be overloaded.")
		}
	case Closed:
		if tlsWanted && !st.tlsDone {
			r = fail(IDTLS, FieldSSLMode, "The server closed the connection during the TLS handshake.",
				"Check that this port is PostgreSQL itself, and that the server accepts TLS 1.2 or later.")
		} else {
			r = fail(IDConnect, FieldSSLMode, "The server closed the connection during login.",
				"A proxy or pooler may be in the way, or the server may accept only TLS connections: turn SSL on.")
		}
	case NoTLS:
		r = fail(IDTLS, FieldSSLMode, "The server does not offer TLS.",
			"Turn SSL off for this database, or enable ssl on the server. Managed databases (Cloud SQL, RDS, Azure) offer TLS, so also check the host and port.")
	case UnknownCA:
		msg := "The server's certificate is not signed by a CA this VM trusts."
		if withCA {
			msg = "The server's certificate is not signed by the uploaded CA."
		}
		r = fail(IDTLS, FieldCA, msg,
			"Upload the CA that issued the server certificate (for example the Cloud SQL server CA or the RDS regional bundle), or choose SSL mode require to encrypt without verifying.")
		if st.serverCert != nil {
			r.Measured = "issued by " + st.serverCert.Issuer.String()
		}
	case NameMismatch:
		r = fail(IDTLS, FieldHost, fmt.Sprintf("The server certificate is not valid for %q.", cfg.Host),
			"Enter the host exactly as the certificate names it, or choose SSL mode verify-ca, which checks the CA but not the name.")
		if st.serverCert != nil {
			r.Measured = "certificate names: " + certNames(st.serverCert)
		}
	case Expired:
		msg := "The server certificate, or a CA in its chain, has expired or is not valid yet."
		if c := st.serverCert; c != nil {
			now := time.Now()
			switch {
			case now.After(c.NotAfter):
				msg = fmt.Sprintf("The server certificate expired on %s.", c.NotAfter.UTC().Format(time.DateOnly))
			case now.Before(c.NotBefore):
				msg = fmt.Sprintf("The server certificate is not valid before %s; check this VM's clock.", c.NotBefore.UTC().Format(time.DateTime))
			}
			r.Measured = "valid until " + c.NotAfter.UTC().Format(time.DateOnly)
		}
		measured := r.Measured
		r = fail(IDTLS, FieldSSLMode, msg, "Renew the database server's certificate (managed services rotate it from their console).")
		r.Measured = measured
	case TLSFailed:
		r = fail(IDTLS, FieldSSLMode, "The TLS handshake with the server failed.",
			"Check the SSL mode, and that host and port point at PostgreSQL with TLS 1.2 or later.")
	case ClientCertRequired:
		r = fail(IDTLS, FieldSSLMode, "The server requires a client certificate (mutual TLS), which CARTO does not support.",
			"Allow password logins from this VM without a client certificate: on Cloud SQL turn off \"Allow only SSL connections with trusted client certificates\"; in pg_hba.conf drop clientcert=verify-full or the cert method for this host.")
	case AuthFailed:
		r = fail(IDAuth, FieldAdminPassword, fmt.Sprintf("The server rejected the password for user %q.", cfg.AdminUser),
			"Check the admin user and password. On Azure Single Server the user is written user@server.")
	case NoHBAEntry:
		how := ""
		if !tlsWanted {
			how = " without TLS"
		}
		seen := ServerSaw(ce.Err)
		r = fail(IDAuth, FieldHost, fmt.Sprintf("The server has no pg_hba.conf rule that lets this VM log in%s.", how),
			hbaHint(cfg, seen, vmAddress(cfg, st), tlsWanted))
		if seen.IsValid() {
			r.Measured = "the server saw " + seen.String()
		}
	case NoDatabase:
		r = fail(IDAdminDatabase, FieldAdminDatabase, fmt.Sprintf("The admin database %q does not exist.", cfg.AdminDatabase),
			"Use a database that exists; usually postgres.")
	case NoPrivilege:
		r = fail(IDAdminDatabase, FieldAdminUser, fmt.Sprintf("User %q may not connect to database %q.", cfg.AdminUser, cfg.AdminDatabase),
			"Grant CONNECT on the admin database to the admin user, or use another admin database.")
	case TooManyConnections:
		r = result(IDConnect, FieldHost, check.Error, "The server has no free connection slots.",
			"Try again, or raise max_connections: CARTO keeps several connections of its own.")
	case Unavailable:
		r = result(IDConnect, FieldHost, check.Error, "The server is starting up or shutting down.", "Try again in a minute.")
	default:
		r = result(IDConnect, FieldHost, check.Error, "The connection failed for an unexpected reason; the details are in the wizard's log.",
			"Check that host and port point at a PostgreSQL server.")
	}
	if ce.Kind.Fixed() {
		r = fixed(r)
	}
	return append(out, r)
}

func certNames(c *x509.Certificate) string {
	names := slices.Clone(c.DNSNames)
	for _, ip := range c.IPAddresses {
		names = append(names, ip.String())
	}
	if len(names) == 0 {
		return "none (CN " + c.Subject.CommonName + " only; Go and modern clients ignore the CN)"
	}
	return strings.Join(names, ", ")
}
