package standin

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"
)

// kind is the behaviour a service plays.
type kind int

const (
	kindAPI        kind = iota // HTTP with GET /health behind Carto-Monitoring
	kindWWW                    // an API that also serves a small HTML page
	kindRouter                 // TLS entry point and path router
	kindMigrations             // one-shot database bootstrap
	kindDatabase               // the embedded PostgreSQL the stand-in does not have
	kindCache                  // the embedded Valkey
)

// service describes one compose service of the release.
type service struct {
	kind kind
	port int // where it listens inside the compose network; 0 for none

	identity bool // reads SELFHOSTED_DOMAIN, SELFHOSTED_TENANT_ID, CARTO_SELFHOSTED_VERSION
	key      bool // mounts certs/ and reads key.json and the other files .env names there
	postgres bool // reads the WORKSPACE_POSTGRES_* block
	redis    bool // reads the REDIS_* block
}

// Services returns the compose service names the stand-in can play, sorted.
func Services() []string {
	names := make([]string, 0, 17)
	for name := range services() {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// Ports returns the port each service listens on inside the compose
// network (the router's HTTPS port for router-http); services that do not
// listen are absent.
func Ports() map[string]int {
	ports := map[string]int{}
	for name, s := range services() {
		if s.port != 0 {
			ports[name] = s.port
		}
	}
	return ports
}

// services is the table of every service of carto-facts §4. The ports of
// workspace-api and notifier are CARTO's; the others follow the Helm chart
// or are chosen here, and the release's env.tpl names the same ones.
func services() map[string]service {
	api := func(port int, key, pg, redis bool) service {
		return service{kind: kindAPI, port: port, identity: true, key: key, postgres: pg, redis: redis}
	}
	return map[string]service{
		"router-http":          {kind: kindRouter, port: 8443, identity: true},
		"router-metrics":       api(5447, true, false, false),
		"http-cache":           api(6081, false, false, false),
		"notifier":             api(5561, false, false, false),
		"accounts-www":         {kind: kindWWW, port: 8080, identity: true},
		"workspace-www":        {kind: kindWWW, port: 8080, identity: true},
		"workspace-api":        api(3000, true, true, true),
		"workspace-subscriber": api(3001, true, true, false),
		"workspace-migrations": {kind: kindMigrations, identity: true, key: true, postgres: true},
		"maps-api":             api(8002, true, true, true),
		"sql-worker":           api(8013, true, true, false),
		"cdn-invalidator-sub":  api(8014, true, false, false),
		"import-api":           api(8003, true, true, false),
		"import-worker":        api(8012, true, true, false),
		"lds-api":              api(8004, true, false, false),
		"workspace-postgres":   {kind: kindDatabase},
		"valkey":               {kind: kindCache, port: 6379},
	}
}

// Main runs the service named by args[0], or by STANDIN_SERVICE when args is
// empty, until ctx is cancelled (or, for workspace-migrations, until its work
// is done). It returns the process exit code: 0 on success, 1 when the
// service fails (a bad variable, an unreachable database), 2 for a usage
// error.
func Main(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	name := getenv("STANDIN_SERVICE")
	if len(args) > 0 {
		name = args[0]
	}
	svc, ok := services()[name]
	if !ok {
		fmt.Fprintf(stderr, "standin: unknown service %q; the stand-in plays: %s\n", name, strings.Join(Services(), ", "))
		return 2
	}
	rec := &recorder{getenv: getenv}
	lg := newLogger(name, stdout, stderr)
	if err := run(ctx, name, svc, rec, lg); err != nil {
		lg.fail(err)
		return 1
	}
	lg.info("stopped")
	return 0
}

// run validates the service's configuration, logs the start-up lines and
// plays the service.
func run(ctx context.Context, name string, svc service, rec *recorder, lg *logger) error {
	e := &env{getenv: rec.get}
	lg.info("starting CARTO stand-in service")
	var cfg config
	if svc.identity {
		cfg.domain = e.domain()
		cfg.tenant = e.tenant()
		cfg.version = e.required("CARTO_SELFHOSTED_VERSION")
	}
	if svc.key {
		cfg.serviceAccount = e.serviceAccount()
		e.mountedFiles()
	}
	if svc.postgres {
		cfg.pg = e.workspacePostgres()
	}
	if svc.redis {
		e.redis()
	}
	interval := 2 * time.Second
	if v := e.optional("STANDIN_LOG_INTERVAL"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			e.problem("STANDIN_LOG_INTERVAL=%q is not a positive duration such as 2s", v)
		} else {
			interval = d
		}
	}
	var pad int
	if v := e.optional("STANDIN_LONG_LINE_BYTES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 1<<20 {
			e.problem("STANDIN_LONG_LINE_BYTES=%q is not a size between 0 and 1048576", v)
		}
		pad = n
	}
	port := svc.port
	if v := e.optional("STANDIN_PORT"); v != "" {
		port = e.port("STANDIN_PORT")
	}

	// The per-kind settings are read before the problems are reported, so
	// that one run names every bad variable.
	var rt routerConfig
	var mig migrationConfig
	switch svc.kind {
	case kindRouter:
		rt = readRouterConfig(e, cfg.domain)
	case kindMigrations:
		mig = readMigrationConfig(e, cfg.pg)
	}
	if err := e.err(); err != nil {
		return err
	}
	if cfg.version != "" {
		lg.info("release", "version", cfg.version, "tenant", cfg.tenant, "domain", cfg.domain)
	}
	if cfg.serviceAccount != "" {
		lg.info("using the CARTO service account", "client_email", cfg.serviceAccount)
	}
	lg.info(rec.summary(pad))

	switch svc.kind {
	case kindMigrations:
		return migrate(ctx, mig, lg)
	case kindRouter:
		return serveRouter(ctx, rt, lg, interval)
	case kindDatabase:
		lg.warn("the stand-in has no embedded database: workspace-postgres only keeps running; " +
			"point WORKSPACE_POSTGRES_HOST at a real PostgreSQL server (LOCAL_POSTGRES_SCALE=0) for the migrations to succeed")
		return heartbeat(ctx, lg, interval, nil)
	case kindCache:
		lg.warn("the stand-in valkey speaks HTTP, not the Redis protocol: it only holds the port and the name")
		return serveBackend(ctx, name, svc.kind, port, cfg, lg, interval)
	default:
		return serveBackend(ctx, name, svc.kind, port, cfg, lg, interval)
	}
}

// config is what every service has read from the common variables.
type config struct {
	domain, tenant, version string
	serviceAccount          string
	pg                      postgres
}

// recorder remembers which variables a service read, so that its start-up
// line can show its effective configuration.
type recorder struct {
	getenv func(string) string
	names  []string
}

func (r *recorder) get(name string) string {
	if !slices.Contains(r.names, name) {
		r.names = append(r.names, name)
	}
	return r.getenv(name)
}

// summary is the one long start-up line: every variable the service read,
// secrets masked, padded to at least pad bytes so that tests of the log
// stream can ask for a line longer than Docker's 16 KiB chunks.
func (r *recorder) summary(pad int) string {
	var b strings.Builder
	b.WriteString("effective configuration:")
	for _, name := range r.names {
		v := r.getenv(name)
		if v == "" {
			continue
		}
		if secretName(name) {
			v = "********"
		}
		fmt.Fprintf(&b, " %s=%q", name, v)
	}
	if b.Len() < pad {
		b.WriteString(" padding=")
		for i := 0; b.Len() < pad; i++ {
			b.WriteByte("0123456789abcdef"[i%16])
		}
	}
	return b.String()
}

// secretName reports whether a variable holds a secret by CARTO's naming.
func secretName(name string) bool {
	for _, s := range []string{"PASSWORD", "SECRET", "TOKEN", "ACCESSKEY"} {
		if strings.Contains(name, s) {
			return true
		}
	}
	return false
}

// logger writes slog text lines: information to stdout, warnings and
// failures to stderr, as the real services mix both streams.
type logger struct {
	out, err *slog.Logger
}

func newLogger(service string, stdout, stderr io.Writer) *logger {
	return &logger{
		out: slog.New(slog.NewTextHandler(stdout, nil)).With("service", service),
		err: slog.New(slog.NewTextHandler(stderr, nil)).With("service", service),
	}
}

func (l *logger) info(msg string, args ...any) { l.out.Info(msg, args...) }
func (l *logger) warn(msg string, args ...any) { l.err.Warn(msg, args...) }

// fail logs why the service stops with exit code 1; a configuration error
// is logged one problem per line, so each names its variable plainly.
func (l *logger) fail(err error) {
	if msg, ok := strings.CutPrefix(err.Error(), "configuration: "); ok {
		for _, p := range strings.Split(msg, "; ") {
			l.err.Error("configuration error: " + p)
		}
	}
	l.err.Error("exiting with code 1", "error", err.Error())
}

// heartbeat logs a line every interval until ctx ends, so that the live log
// view always has something to show; every tenth line goes to stderr.
// count, when not nil, reports how many requests were served.
func heartbeat(ctx context.Context, lg *logger, interval time.Duration, count func() int64) error {
	start := time.Now()
	t := time.NewTicker(interval)
	defer t.Stop()
	for n := 1; ; n++ {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		args := []any{"beat", n, "uptime", time.Since(start).Round(time.Second).String()}
		if count != nil {
			args = append(args, "requests", count())
		}
		if n%10 == 0 {
			lg.warn("heartbeat: the stand-in is idle", args...)
			continue
		}
		lg.info("heartbeat", args...)
	}
}
