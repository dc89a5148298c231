package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sync"
	"syscall"
	"time"

	"github.com/carto-setup/carto-setup/internal/auth"
	"github.com/carto-setup/carto-setup/internal/bench/measure"
	"github.com/carto-setup/carto-setup/internal/engine"
	"github.com/carto-setup/carto-setup/internal/jobs"
	"github.com/carto-setup/carto-setup/internal/logstore"
	"github.com/carto-setup/carto-setup/internal/logstream"
	"github.com/carto-setup/carto-setup/internal/selfsigned"
	"github.com/carto-setup/carto-setup/internal/server"
	"github.com/carto-setup/carto-setup/internal/steps"
	"github.com/carto-setup/carto-setup/internal/wizard"
)

// The jobs the stand-in installer knows: the benchmark's project, and a
// quiet one with no lines for the idle clients.
const (
	benchJob = "bench"
	quietJob = "quiet"
)

// serverInfo is what the child prints on its first line of output.
type serverInfo struct {
	URL    string `json:"url"`    // https://127.0.0.1:port of the wizard handler
	Cookie string `json:"cookie"` // a valid session cookie value
	Debug  string `json:"debug"`  // http://127.0.0.1:port of the stats endpoint
	// View is which live view the clients read (-view): "job", an
	// install's log, or "page", the Logs page's live tail. The parent sets
	// it.
	View string `json:"-"`
}

// serverStats is what the child's stats endpoint answers.
type serverStats struct {
	Goroutines   int         `json:"goroutines"`
	WSGoroutines int         `json:"ws_goroutines"` // inside the websocket handler
	HeapInuse    uint64      `json:"heap_inuse"`
	RSS          int64       `json:"rss"`
	Streams      int         `json:"streams"` // daemon log streams open now
	Opened       int         `json:"opened"`  // daemon log streams opened in all
	Closed       []connClose `json:"closed"`
	Ingest       []int64     `json:"ingest,omitempty"` // ns, with ?ingest=1
}

// connClose is a connection the server closed (or saw closed).
type connClose struct {
	Remote string `json:"remote"`
	AtNS   int64  `json:"at_ns"`
}

// serve runs the server half: the wizard's HTTP handler, with its real
// websocket log handler, reading the Hub of a logstream.ProjectFollower of
// one Compose project, which also writes every line to a logstore.Store,
// as the wizard does for its Logs page. Only the Installer is a stand-in:
// it serves that hub as a job's. It serves TLS with a self-signed certificate, as the wizard
// does, until ctx is done.
func serve(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("logbench serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	project := fs.String("project", "", "Compose project whose containers to follow")
	probe := fs.Bool("ingest-probe", false, "read the hub in-process to measure ingest lag (daemon timestamp to ring)")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *cpuprofile != "" {
		pf, err := os.Create(*cpuprofile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(pf); err != nil {
			return err
		}
		defer func() {
			pprof.StopCPUProfile()
			pf.Close()
		}()
	}
	dir, err := os.MkdirTemp("", "logbench-serve-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	a, tok, err := auth.Open(dir, time.Now)
	if err != nil {
		return err
	}
	cookie, err := a.SignIn(tok)
	if err != nil {
		return err
	}
	cli, err := engine.NewLogClient(ctx)
	if err != nil {
		return err
	}
	defer cli.Close()

	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	// Ten secrets, as an install has (passwords, keys): masking runs on
	// every line in the product, so it runs here too.
	var secrets []string
	for i := range 10 {
		secrets = append(secrets, fmt.Sprintf("bench-secret-%02d-%x", i, time.Now().UnixNano()))
	}
	masker := logstream.NewMasker(secrets)
	// The wizard's whole log path: the project follower, its hub, and the
	// on-disk store every line is also written to.
	store, err := logstore.Open(logstore.Config{Dir: filepath.Join(dir, "logs"), Masker: masker, Log: log})
	if err != nil {
		return err
	}
	defer store.Close()
	hub := logstream.NewHub(logstream.HubConfig{})
	f := logstream.NewProjectFollower(logstream.ProjectConfig{
		Project: *project, Docker: cli, Hub: hub, History: store, Masker: masker, Log: log,
	})
	runCtx, stopRun := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { f.Run(runCtx) })
	defer func() { stopRun(); wg.Wait() }()

	var lag ingestProbe
	if *probe {
		wg.Go(func() { lag.run(runCtx, hub) })
	}

	inst := &benchInstaller{hubs: map[string]*logstream.Hub{benchJob: hub, quietJob: logstream.NewHub(logstream.HubConfig{})}}
	h := server.NewHandler(server.Deps{
		Log: log, Auth: a, Throttle: auth.NewThrottle(time.Now),
		Store: wizard.NewFileStore(filepath.Join(dir, "state.json"), time.Now), Now: time.Now,
		HostNames: []string{"127.0.0.1", "localhost"}, SelfSigned: true, Installer: inst,
		Logs: benchLogs{Store: store, hub: hub},
	})
	certPEM, keyPEM, err := selfsigned.Generate(selfsigned.Request{
		CommonName: "logbench", IPs: []net.IP{net.IPv4(127, 0, 0, 1)}, NotBefore: time.Now(), Validity: 24 * time.Hour,
	})
	if err != nil {
		return err
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	tl := &trackListener{Listener: ln}
	// The same timeouts as the app's server (internal/app).
	srv := &http.Server{
		Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 2 * time.Minute,
		WriteTimeout: 2 * time.Minute, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10,
		ErrorLog:  slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
	}
	dln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	dsrv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := serverStats{Goroutines: runtime.NumGoroutine(), WSGoroutines: countGoroutines("server.(*logSocket)"),
			Streams: f.Streams(), Opened: f.Opened(), Closed: tl.closed()}
		if r.URL.Query().Get("gc") == "1" {
			runtime.GC() // so that heap in use is live memory, not garbage
		}
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		st.HeapInuse = ms.HeapInuse
		if p, err := measure.ReadProc(os.Getpid()); err == nil {
			st.RSS = p.RSS
		}
		if r.URL.Query().Get("ingest") == "1" {
			st.Ingest = lag.take()
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(st)
	})}
	errc := make(chan error, 2)
	go func() { errc <- srv.ServeTLS(tl, "", "") }()
	go func() { errc <- dsrv.Serve(dln) }()
	info := serverInfo{URL: "https://" + ln.Addr().String(), Cookie: cookie, Debug: "http://" + dln.Addr().String()}
	if err := json.NewEncoder(stdout).Encode(info); err != nil {
		return err
	}
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shut, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	dsrv.Shutdown(shut)
	if err := srv.Shutdown(shut); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}

// benchLogs is the Logs page's view of the follower and the store, as
// the app wires it.
type benchLogs struct {
	*logstore.Store
	hub *logstream.Hub
}

func (b benchLogs) Hub() *logstream.Hub { return b.hub }

// benchInstaller is the one stand-in: it serves fixed hubs as running jobs.
type benchInstaller struct {
	hubs map[string]*logstream.Hub
}

func (b *benchInstaller) Review(context.Context, wizard.State) (steps.Review, error) {
	return steps.Review{}, nil
}

func (b *benchInstaller) Start(wizard.State) (string, error) {
	return "", errors.New("logbench: no installs")
}

func (b *benchInstaller) Status(id string) (steps.InstallStatus, bool) {
	if _, ok := b.hubs[id]; !ok {
		return steps.InstallStatus{}, false
	}
	return steps.InstallStatus{Record: jobs.Record{ID: id, Kind: "install", Status: jobs.Running}}, true
}

func (b *benchInstaller) Latest() (string, bool) { return benchJob, true }

func (b *benchInstaller) Logs(id string) (*logstream.Hub, bool) {
	h, ok := b.hubs[id]
	return h, ok
}

// trackListener records when each accepted connection is closed, so the
// harness learns when the server dropped a stalled client.
type trackListener struct {
	net.Listener
	mu     sync.Mutex
	closes []connClose
}

func (l *trackListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &trackConn{Conn: c, l: l}, nil
}

func (l *trackListener) closed() []connClose {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]connClose(nil), l.closes...)
}

type trackConn struct {
	net.Conn
	l    *trackListener
	once sync.Once
}

// SyscallConn gives the server's socket options (TCP_NOTSENT_LOWAT, linger)
// the real socket, as without this wrapper.
func (c *trackConn) SyscallConn() (syscall.RawConn, error) {
	sc, ok := c.Conn.(syscall.Conn)
	if !ok {
		return nil, errors.New("logbench: not a socket")
	}
	return sc.SyscallConn()
}

func (c *trackConn) Close() error {
	c.once.Do(func() {
		c.l.mu.Lock()
		c.l.closes = append(c.l.closes, connClose{Remote: c.RemoteAddr().String(), AtNS: time.Now().UnixNano()})
		c.l.mu.Unlock()
	})
	return c.Conn.Close()
}

// countGoroutines counts the goroutines whose stack mentions fn.
func countGoroutines(fn string) int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	count := 0
	for _, g := range bytes.Split(buf, []byte("\n\n")) {
		if bytes.Contains(g, []byte(fn)) {
			count++
		}
	}
	return count
}

// probeEvery is the sampling interval of the ingest probe, in lines.
const probeEvery = 16

// ingestProbe reads the hub like a websocket writer but without a network,
// and records for every line how long after its daemon timestamp it could
// be read from the ring: an upper bound of the follower's ingest lag.
type ingestProbe struct {
	mu  sync.Mutex
	lag []int64
}

func (p *ingestProbe) run(ctx context.Context, h *logstream.Hub) {
	sub := h.Subscribe(nil)
	defer sub.Close()
	for {
		for {
			b := sub.Next(5000)
			now := time.Now()
			p.mu.Lock()
			for _, l := range b.Lines {
				// One line in probeEvery is enough for percentiles and
				// keeps the probe's own memory out of the server's.
				if l.Seq%probeEvery == 0 && !l.TS.IsZero() {
					p.lag = append(p.lag, int64(now.Sub(l.TS)))
				}
			}
			p.mu.Unlock()
			if !b.More {
				break
			}
		}
		select {
		case <-sub.Notify():
		case <-ctx.Done():
			return
		}
	}
}

func (p *ingestProbe) take() []int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := p.lag
	p.lag = nil
	return out
}
