package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/carto-setup/carto-setup/internal/bench/measure"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "wizbench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("wizbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	bin := fs.String("bin", "bin/carto-setup", "the wizard binary (make build)")
	starts := fs.Int("starts", 5, "start-ups measured with a new state directory, and as many with an existing one")
	requests := fs.Int("requests", 2000, "requests per concurrency level")
	levels := fs.String("concurrency", "1,8,32", "concurrency levels of the page-render test")
	idle := fs.Duration("idle", 3*time.Second, "how long the wizard sits idle before its memory is read")
	if err := fs.Parse(args); err != nil {
		return err
	}
	exe, err := filepath.Abs(*bin)
	if err != nil {
		return err
	}
	if _, err := os.Stat(exe); err != nil {
		return fmt.Errorf("%s: run make build first: %w", *bin, err)
	}
	tmp, err := os.MkdirTemp("", "wizbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	// Start-up: a new state directory (certificate and token generated)
	// and an existing one.
	var cold, warm []time.Duration
	var last *wizard
	for i := range *starts {
		state := filepath.Join(tmp, fmt.Sprintf("state%d", i))
		for pass := range 2 {
			w, err := startWizard(ctx, exe, tmp, state)
			if err != nil {
				return err
			}
			if pass == 0 {
				cold = append(cold, w.startup)
			} else {
				warm = append(warm, w.startup)
			}
			if i == *starts-1 && pass == 1 {
				last = w
				break
			}
			if err := w.stop(); err != nil {
				return err
			}
		}
	}
	defer last.stop()

	select {
	case <-time.After(*idle):
	case <-ctx.Done():
		return ctx.Err()
	}
	idleProc, err := measure.ReadProc(last.cmd.Process.Pid)
	if err != nil {
		return err
	}

	hc := &http.Client{
		Transport: &http.Transport{
			TLSClientConfig:     &tls.Config{InsecureSkipVerify: true}, // the wizard's self-signed certificate
			MaxIdleConnsPerHost: 256,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       2 * time.Minute,
	}
	cookie, err := last.signIn(hc)
	if err != nil {
		return err
	}
	page := last.base + "/steps/preflight"
	get := func() (time.Duration, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, page, nil)
		if err != nil {
			return 0, err
		}
		req.Header.Set("Cookie", cookie)
		t0 := time.Now()
		res, err := hc.Do(req)
		if err != nil {
			return 0, err
		}
		_, err = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		d := time.Since(t0)
		if err == nil && res.StatusCode != http.StatusOK {
			err = fmt.Errorf("GET %s: %s", page, res.Status)
		}
		return d, err
	}
	// The first visit runs the preflight checks; later ones render the
	// stored result, which is the page-render cost being measured.
	first, err := get()
	if err != nil {
		return err
	}

	type level struct {
		c        int
		lat      measure.Latencies
		rps      float64
		failures int
	}
	var results []level
	for _, f := range strings.Split(*levels, ",") {
		c, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || c < 1 {
			return fmt.Errorf("-concurrency: bad level %q", f)
		}
		lat := make([]time.Duration, 0, *requests)
		var mu sync.Mutex
		var failures int
		next := make(chan struct{}, *requests)
		for range *requests {
			next <- struct{}{}
		}
		close(next)
		t0 := time.Now()
		var wg sync.WaitGroup
		for range c {
			wg.Go(func() {
				for range next {
					d, err := get()
					mu.Lock()
					if err != nil {
						failures++
					} else {
						lat = append(lat, d)
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		el := time.Since(t0)
		results = append(results, level{c: c, lat: measure.Summarize(lat), rps: float64(len(lat)) / el.Seconds(), failures: failures})
	}
	after, err := measure.ReadProc(last.cmd.Process.Pid)
	if err != nil {
		return err
	}

	fmt.Fprintf(stdout, "wizbench %s: %s (%s, %d cores, %s)\n\n", time.Now().UTC().Format(time.RFC3339), *bin, measure.CPUModel(), runtime.NumCPU(), runtime.Version())
	t := measure.Table{Header: []string{"measure", "value"}}
	med := func(d []time.Duration) measure.Latencies { return measure.Summarize(slices.Clone(d)) }
	c, w := med(cold), med(warm)
	t.Add("start-up to first answered request, new state dir (ms, median / max of "+strconv.Itoa(len(cold))+")", measure.Ms(c.P50, c.N > 0)+" / "+measure.Ms(c.Max, c.N > 0))
	t.Add("start-up to first answered request, existing state dir (ms, median / max)", measure.Ms(w.P50, w.N > 0)+" / "+measure.Ms(w.Max, w.N > 0))
	t.Add(fmt.Sprintf("idle RSS after %s (MiB)", *idle), measure.MiB(idleProc.RSS))
	t.Add("first preflight page, runs the checks (ms)", measure.Ms(first, true))
	t.Add("RSS after the page-render test / peak (MiB)", measure.MiB(after.RSS)+" / "+measure.MiB(after.HWM))
	t.Print(stdout)
	fmt.Fprintln(stdout)
	fmt.Fprintf(stdout, "Page render: GET /steps/preflight (signed in, stored check results), %d requests per level, keep-alive HTTPS\n\n", *requests)
	t = measure.Table{Header: []string{"concurrency", "p50 ms", "p99 ms", "max ms", "requests/s", "failures"}}
	for _, r := range results {
		t.Add(strconv.Itoa(r.c), measure.Ms(r.lat.P50, r.lat.N > 0), measure.Ms(r.lat.P99, r.lat.N > 0), measure.Ms(r.lat.Max, r.lat.N > 0),
			fmt.Sprintf("%.0f", r.rps), strconv.Itoa(r.failures))
	}
	t.Print(stdout)
	return nil
}

// wizard is one running carto-setup serve.
type wizard struct {
	cmd     *exec.Cmd
	base    string // https://127.0.0.1:port
	state   string
	startup time.Duration
	exited  chan struct{}
}

// startWizard runs the binary on a free loopback port and waits for its
// first answer to GET /healthz, polling every millisecond.
func startWizard(ctx context.Context, exe, dir, state string) (*wizard, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	w := &wizard{base: "https://127.0.0.1:" + strconv.Itoa(port), state: state, exited: make(chan struct{})}
	hc := &http.Client{
		Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, DisableKeepAlives: true},
		Timeout:   2 * time.Second,
	}
	w.cmd = exec.Command(exe, "--dir", dir, "--state-dir", state, "--listen", "127.0.0.1:"+strconv.Itoa(port), "--http-addr", "127.0.0.1:0")
	w.cmd.Stdout, w.cmd.Stderr = io.Discard, io.Discard
	t0 := time.Now()
	if err := w.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { w.cmd.Wait(); close(w.exited) }()
	deadline := t0.Add(30 * time.Second)
	for {
		res, err := hc.Get(w.base + "/healthz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				w.startup = time.Since(t0)
				return w, nil
			}
		}
		select {
		case <-w.exited:
			return nil, errors.New("carto-setup exited during start-up")
		case <-ctx.Done():
			w.stop()
			return nil, ctx.Err()
		case <-time.After(time.Millisecond):
		}
		if time.Now().After(deadline) {
			w.stop()
			return nil, errors.New("carto-setup did not answer within 30 s")
		}
	}
}

// signIn opens the sign-in link with the token from the state directory
// and returns the session cookie as a Cookie header value.
func (w *wizard) signIn(hc *http.Client) (string, error) {
	tok, err := os.ReadFile(filepath.Join(w.state, "token"))
	if err != nil {
		return "", err
	}
	res, err := hc.Get(w.base + "/signin?token=" + strings.TrimSpace(string(tok)))
	if err != nil {
		return "", err
	}
	res.Body.Close()
	for _, c := range res.Cookies() {
		return c.Name + "=" + c.Value, nil
	}
	return "", fmt.Errorf("sign-in: %s and no cookie", res.Status)
}

func (w *wizard) stop() error {
	select {
	case <-w.exited:
		return nil
	default:
	}
	w.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-w.exited:
		return nil
	case <-time.After(15 * time.Second):
		w.cmd.Process.Kill()
		<-w.exited
		return errors.New("carto-setup did not stop on SIGTERM within 15 s")
	}
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
