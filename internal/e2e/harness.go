package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/carto-setup/carto-setup/internal/app"
	"github.com/carto-setup/carto-setup/internal/demo/release"
	"github.com/carto-setup/carto-setup/internal/testenv"
)

// Clock is a settable clock shared by the program and the test.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock at the current wall time.
func NewClock() *Clock { return &Clock{t: time.Now()} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

// Advance moves the clock forward.
func (c *Clock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// App is one running carto-setup.
type App struct {
	ReleaseDir string
	StateDir   string
	SignInURL  string // as printed on the console
	BaseURL    string // https://127.0.0.1:PORT
	Stdout     *testenv.Buffer
	Stderr     *testenv.Buffer
	Clock      *Clock

	cancel context.CancelFunc
	done   chan error
}

// Options configure StartApp.
type Options struct {
	ReleaseDir string // default: a new temporary directory with the stand-in release
	StateDir   string // default: ReleaseDir/.carto-setup
	Clock      *Clock // default: NewClock()
	Args       []string
}

var signInRE = regexp.MustCompile(`https://127\.0\.0\.1:\d+/signin\?token=[0-9a-f]+`)

// StartApp runs carto-setup in-process on 127.0.0.1:0 and waits until it
// prints its sign-in URL. The program is stopped when the test ends.
func StartApp(t testing.TB, o Options) *App {
	t.Helper()
	if o.ReleaseDir == "" {
		o.ReleaseDir = t.TempDir()
		if err := release.Write(o.ReleaseDir, ""); err != nil {
			t.Fatal(err)
		}
	}
	if o.Clock == nil {
		o.Clock = NewClock()
	}
	a := &App{ReleaseDir: o.ReleaseDir, StateDir: o.StateDir, Stdout: &testenv.Buffer{}, Stderr: &testenv.Buffer{}, Clock: o.Clock, done: make(chan error, 1)}
	if a.StateDir == "" {
		a.StateDir = filepath.Join(o.ReleaseDir, ".carto-setup")
	}
	args := append([]string{"carto-setup", "--dir", o.ReleaseDir, "--state-dir", a.StateDir, "--listen", "127.0.0.1:0"}, o.Args...)
	ctx, cancel := context.WithCancel(context.Background())
	a.cancel = cancel
	getenv := func(string) string { return "" }
	go func() { a.done <- app.Run(ctx, args, getenv, a.Stdout, a.Stderr, app.WithClock(o.Clock.Now)) }()

	deadline := time.Now().Add(30 * time.Second)
	for a.SignInURL == "" {
		select {
		case err := <-a.done:
			t.Fatalf("carto-setup exited before serving: %v\nstdout:\n%s\nstderr:\n%s", err, a.Stdout, a.Stderr)
		case <-time.After(20 * time.Millisecond):
		}
		a.SignInURL = signInRE.FindString(a.Stdout.String())
		if time.Now().After(deadline) {
			t.Fatalf("no sign-in URL on the console after 30s:\n%s", a.Stdout)
		}
	}
	a.BaseURL = a.SignInURL[:strings.Index(a.SignInURL, "/signin")]
	t.Cleanup(func() { a.Stop(t) })
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("carto-setup console output:\n%s\n--- stderr ---\n%s", a.Stdout, a.Stderr)
		}
	})
	return a
}

// Stop stops the program and waits for it to exit; it is safe to call
// twice.
func (a *App) Stop(t testing.TB) {
	if a.cancel == nil {
		return
	}
	a.cancel()
	a.cancel = nil
	select {
	case err := <-a.done:
		if err != nil {
			t.Errorf("carto-setup exited with %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Errorf("carto-setup did not stop within 15s")
	}
}

// Browser starts a headless Chromium with a fresh profile and returns a
// chromedp context for it. On test failure a screenshot of the current page
// is saved and its path logged.
func Browser(t testing.TB, javascript bool) context.Context {
	t.Helper()
	path := testenv.LookPath(t, "chromium", "apt-get install chromium")
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		// The wizard's certificate is self-signed by design.
		chromedp.Flag("ignore-certificate-errors", true),
		chromedp.WindowSize(1280, 900),
	}
	if !javascript {
		opts = append(opts, chromedp.Flag("blink-settings", "scriptEnabled=false"))
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	if err := chromedp.Do(ctx); err != nil {
		cancelCtx()
		cancelAlloc()
		t.Fatalf("start chromium: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			saveScreenshot(t, ctx)
		}
		cancelCtx()
		cancelAlloc()
	})
	return ctx
}

func saveScreenshot(t testing.TB, ctx context.Context) {
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	png, err := chromedp.Run(sctx, chromedp.FullScreenshot(90))
	if err != nil {
		t.Logf("screenshot failed: %v", err)
		return
	}
	dir := os.Getenv("E2E_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "carto-setup-e2e")
	}
	os.MkdirAll(dir, 0o755)
	name := filepath.Join(dir, strings.NewReplacer("/", "_", " ", "_").Replace(t.Name())+".png")
	if err := os.WriteFile(name, png, 0o644); err != nil {
		t.Logf("save screenshot: %v", err)
		return
	}
	t.Logf("screenshot of the failing page: %s", name)
}

// Run runs chromedp actions with a timeout and fails the test with what it
// was doing.
func Run(t testing.TB, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := chromedp.Do(tctx, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// Get runs one chromedp action that returns a value, with a timeout.
func Get[T any](t testing.TB, ctx context.Context, what string, action chromedp.Action[T]) T {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	v, err := chromedp.Run(tctx, action)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

// Text returns the text of the first node matching sel.
func Text(t testing.TB, ctx context.Context, sel string) string {
	t.Helper()
	return Get(t, ctx, fmt.Sprintf("read %s", sel), chromedp.Text(chromedp.CSS(sel)))
}

// Location returns the browser's current URL.
func Location(t testing.TB, ctx context.Context) string {
	t.Helper()
	return Get(t, ctx, "read location", chromedp.Location())
}

// PassPreflight runs the preflight step in the browser: it types a reason
// into every failed check that may be overridden (the test machines have 2
// CPUs and no internet) and continues.
func PassPreflight(t testing.TB, ctx context.Context, a *App) {
	t.Helper()
	Navigate(t, ctx, a.BaseURL+"/steps/preflight")
	nodes := Get(t, ctx, "find override fields", chromedp.Nodes(chromedp.CSSAll(`input[name^="override."]`), chromedp.AtLeast(0)))
	for _, n := range nodes {
		Run(t, ctx, "type override reason", chromedp.SendKeys(chromedp.CSS(`input[name="`+n.AttributeValue("name")+`"]`), "e2e test machine"))
	}
	Submit(t, ctx, `button[value="next"]`)
	if loc := Location(t, ctx); !strings.HasSuffix(loc, "/steps/package") {
		t.Fatalf("after preflight the wizard is at %s; page says %q", loc, Text(t, ctx, "main"))
	}
}

// Navigate opens url and waits for an h1. Chromium aborts a page load with
// ERR_NETWORK_CHANGED when the host's interfaces change, which Docker does
// whenever it starts a container; such a load is retried.
func Navigate(t testing.TB, ctx context.Context, url string) {
	t.Helper()
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		tctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		err = chromedp.Do(tctx, chromedp.Navigate(url), chromedp.WaitVisible(chromedp.CSS("h1")))
		cancel()
		if err == nil || !strings.Contains(err.Error(), "ERR_NETWORK_CHANGED") {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("open %s: %v", url, err)
	}
}
