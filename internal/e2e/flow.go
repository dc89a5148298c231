package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/carto-setup/carto-setup/internal/testenv"
)

// Submit clicks a submit button and waits until the next page has loaded.
// It marks the current document first, so an old page that is still on
// screen is not mistaken for the new one.
func Submit(t testing.TB, ctx context.Context, button string) {
	t.Helper()
	Get(t, ctx, "mark page", chromedp.Evaluate[bool](`(document.documentElement.dataset.e2eOld = "1") === "1"`))
	Run(t, ctx, "click "+button, chromedp.Click(chromedp.CSS(button)))
	WaitJS(t, ctx, "the next page", `!document.documentElement.dataset.e2eOld && document.readyState === "complete" && !!document.querySelector("h1")`, 3*time.Minute)
}

// WaitJS polls a JavaScript condition until it is true.
func WaitJS(t testing.TB, ctx context.Context, what, cond string, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		tctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		ok, err := chromedp.Run(tctx, chromedp.Evaluate[bool]("(function(){try{return !!("+cond+")}catch(e){return false}})()"))
		cancel()
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: gave up after %v (last error %v); page: %q", what, limit, err, pageText(ctx))
		}
		time.Sleep(150 * time.Millisecond)
	}
}

func pageText(ctx context.Context) string {
	tctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	s, _ := chromedp.Run(tctx, chromedp.Evaluate[string](`document.body ? document.body.innerText.slice(0, 1500) : ""`))
	return s
}

// Fill sets the value of the input named name.
func Fill(t testing.TB, ctx context.Context, name, value string) {
	t.Helper()
	Run(t, ctx, "fill "+name, chromedp.SetValue(chromedp.CSS(`[name="`+name+`"]`), value))
}

// Choose clicks the radio button name=value.
func Choose(t testing.TB, ctx context.Context, name, value string) {
	t.Helper()
	Run(t, ctx, "choose "+name+"="+value, chromedp.Click(chromedp.CSS(`input[name="`+name+`"][value="`+value+`"]`)))
}

// SetChecked sets a checkbox.
func SetChecked(t testing.TB, ctx context.Context, name string, on bool) {
	t.Helper()
	Get(t, ctx, "set "+name, chromedp.Evaluate[bool](fmt.Sprintf(`(document.querySelector('input[name="%s"]').checked = %v) === %v`, name, on, on)))
}

// Upload attaches a file to the file input named name.
func Upload(t testing.TB, ctx context.Context, name, path string) {
	t.Helper()
	Run(t, ctx, "upload "+name, chromedp.SetUploadFiles(chromedp.CSS(`input[name="`+name+`"]`), []string{path}))
}

// FillOverrides types a reason into every override field on the page and
// returns how many there were.
func FillOverrides(t testing.TB, ctx context.Context, reason string) int {
	t.Helper()
	return Get(t, ctx, "fill override reasons", chromedp.Evaluate[int](fmt.Sprintf(
		`Array.from(document.querySelectorAll('input[name^="override."]')).map(function(i){ i.value = %q; return 1 }).length`, reason)))
}

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// StaticBinary builds carto-setup with CGO_ENABLED=0 once per test run:
// the stand-in images are made FROM scratch from it.
func StaticBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "carto-setup-e2e-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "carto-setup")
		root, err := moduleRoot()
		if err != nil {
			buildErr = err
			return
		}
		cmd := exec.Command("go", "build", "-trimpath", "-o", binPath, "./cmd/carto-setup")
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatalf("build a static carto-setup: %v", buildErr)
	}
	return binPath
}

func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above %s", dir)
		}
		dir = parent
	}
}

// NeedDocker reports the Docker Engine missing (skip locally, fail in CI).
func NeedDocker(t testing.TB) {
	t.Helper()
	if out, err := exec.Command("docker", "info", "--format", "{{.ServerVersion}}").CombinedOutput(); err != nil || strings.TrimSpace(string(out)) == "" {
		testenv.Missing(t, "Docker Engine", "install and start Docker")
	}
}

// execLookPath finds executables on PATH.
var execLookPath = exec.LookPath
