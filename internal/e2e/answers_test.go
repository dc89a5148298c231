package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/carto-setup/carto-setup/internal/app"
	"github.com/carto-setup/carto-setup/internal/compose"
	"github.com/carto-setup/carto-setup/internal/demo/release"
	"github.com/carto-setup/carto-setup/internal/deploy"
	"github.com/carto-setup/carto-setup/internal/wizard"
)

// TestAnswersRoundTrip walks the wizard in Chromium, exports what was
// entered with `carto-setup answers`, applies the export headless on a
// fresh state directory and release checkout, and gets the same
// customer.env, .env and certs/ the wizard's install would write.
func TestAnswersRoundTrip(t *testing.T) {
	f := newInstallFixture(t)
	ctx := Browser(t, true)
	f.walkToReview(t, ctx, f.pg.Password)

	run := func(args ...string) (string, string, error) {
		var out, errb bytes.Buffer
		err := app.Run(context.Background(), append([]string{"carto-setup"}, args...), func(string) string { return "" }, &out, &errb)
		return out.String(), errb.String(), err
	}
	exported, stderr, err := run("answers", "--dir", f.release, "--state-dir", f.app.StateDir)
	if err != nil {
		t.Fatalf("answers: %v\n%s", err, stderr)
	}
	answersFile := filepath.Join(t.TempDir(), "answers.yaml")
	os.WriteFile(answersFile, []byte(exported), 0o600)
	if bytes.Contains([]byte(exported), []byte(f.pg.Password)) {
		t.Fatal("the exported answers file holds the database password inline")
	}

	// What the wizard's install would write for the walked state.
	st, err := wizard.NewFileStore(filepath.Join(f.app.StateDir, "state.json"), time.Now).Load()
	if err != nil {
		t.Fatal(err)
	}
	planned := t.TempDir()
	if err := release.Write(planned, f.version); err != nil {
		t.Fatal(err)
	}
	plan, err := deploy.NewPlan(st, planned)
	if err != nil {
		t.Fatal(err)
	}
	if err := deploy.ApplyWith(plan, deploy.ApplyOptions{Now: time.Now()}); err != nil {
		t.Fatal(err)
	}

	// Apply the export headless on a fresh checkout and state.
	fresh := t.TempDir()
	if err := release.Write(fresh, f.version); err != nil {
		t.Fatal(err)
	}
	project := fmt.Sprintf("e2erb%06d", rand.IntN(1e6))
	t.Cleanup(func() {
		cctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if tool, err := compose.Detect(cctx, execLookPath, compose.Exec); err == nil {
			compose.Down(cctx, tool, fresh, project, io.Discard)
		}
	})
	_, stderr, err = run("apply", "--answers", answersFile, "--dir", fresh, "--state-dir", filepath.Join(t.TempDir(), "state"),
		"--project", project, "--standin-binary", StaticBinary(t), "--resolver", f.resolver, "--http-addr", "127.0.0.1:0", "--expect-timeout", "4m")
	var coded interface{ ExitCode() int }
	if err != nil && !errors.As(err, &coded) {
		t.Fatalf("apply: %v\n%s", err, stderr)
	}
	if err != nil {
		t.Fatalf("apply exited %d:\n%s", coded.ExitCode(), stderr)
	}

	names := []string{"customer.env", ".env", "key.json"}
	certs, err := os.ReadDir(filepath.Join(planned, "certs"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range certs {
		names = append(names, filepath.Join("certs", c.Name()))
	}
	for _, name := range names {
		a, errA := os.ReadFile(filepath.Join(planned, name))
		b, errB := os.ReadFile(filepath.Join(fresh, name))
		if errA != nil || errB != nil {
			t.Errorf("%s: %v / %v", name, errA, errB)
			continue
		}
		if !bytes.Equal(a, b) {
			t.Errorf("%s differs between the wizard's install and the headless apply of its export", name)
		}
	}
}
