package app_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/carto-setup/carto-setup/internal/app"
	"github.com/carto-setup/carto-setup/internal/demo/release"
	"github.com/carto-setup/carto-setup/internal/engine"
	"github.com/carto-setup/carto-setup/internal/testenv"
	"github.com/carto-setup/carto-setup/internal/wizard"
)

// TestWizardLogsMaskedAndCapped runs the wizard (app.Run, serve) on a
// state that holds a database password, with a release whose
// customer.env has a secret-looking key, and a history cap of 1 MiB. Then
// containers of its Compose project print both secrets and one floods its
// log. The wizard's project follower keeps all of it: `carto-setup logs`
// (app.Run again, while the wizard runs) shows the lines with the secrets
// masked, no file of the store holds either secret, and the flooding
// service's timeline never passes its cap while it keeps the newest lines.
func TestWizardLogsMaskedAndCapped(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the Docker test")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	eng, err := engine.New(ctx)
	if err != nil {
		testenv.Missing(t, "Docker Engine", "install Docker Engine 20.10+ and start it: "+err.Error())
	}
	defer eng.Close()
	docker := testenv.LookPath(t, "docker", "install the docker CLI")
	goBin := testenv.LookPath(t, "go", "install Go 1.26")
	id := randHex(t)
	version := "2026.8.11-logstest." + id
	bin := filepath.Join(t.TempDir(), "carto-setup")
	build := exec.CommandContext(ctx, goBin, "build", "-trimpath", "-o", bin, "github.com/carto-setup/carto-setup/internal/demo/standin/testdata/standinmain")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	if _, err := release.EnsureImages(ctx, eng, bin, version, io.Discard); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { release.RemoveImages(context.Background(), eng, version) })

	// The secrets: one the wizard registered, one only customer.env has.
	adminPW := "Admin-PW-" + id
	envSecret := "Redis-Secret-" + id
	dir, state := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "customer.env"), []byte("REDIS_PASSWORD="+envSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := wizard.NewFileStore(filepath.Join(state, "state.json"), time.Now).Update(func(st *wizard.State) error {
		st.Database.AdminPassword = adminPW
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	project := "logstest" + id
	var stdout, stderr testenv.Buffer
	wctx, stopWizard := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- app.Run(wctx, []string{"carto-setup", "--dir", dir, "--state-dir", state, "--listen", "127.0.0.1:0",
			"--http-addr", "127.0.0.1:0", "--project", project, "--log-history-mib", "1"},
			func(string) string { return "" }, &stdout, &stderr)
	}()
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			stopWizard()
			if err := <-done; err != nil {
				t.Errorf("the wizard exited with %v", err)
			}
		}
	}
	defer stop()
	testenv.WaitFor(t, "the wizard", 30*time.Second, func() bool { return strings.Contains(stdout.String(), "Listening on") })

	// Containers of the project, as Compose labels them.
	run := func(service string, env ...string) {
		name := project + "-" + service + "-1"
		args := []string{"run", "-d", "--name", name, "--label", "com.docker.compose.project=" + project,
			"--label", "com.docker.compose.service=" + service, "--label", "com.docker.compose.container-number=1"}
		for _, e := range env {
			args = append(args, "-e", e)
		}
		args = append(args, release.ImageTag(version), "workspace-postgres")
		if out, err := exec.CommandContext(ctx, docker, args...).CombinedOutput(); err != nil {
			t.Fatalf("docker run %s: %v\n%s", service, err, out)
		}
		t.Cleanup(func() { exec.Command(docker, "rm", "-f", name).Run() })
	}
	// The stand-in names a bad STANDIN_LOG_INTERVAL with its value.
	run("leak", "STANDIN_LOG_INTERVAL="+adminPW+"s")
	run("leakenv", "STANDIN_LOG_INTERVAL="+envSecret+"s")
	run("flood", "STANDIN_LOG_INTERVAL=50us")

	logs := func(args ...string) string {
		var out, errOut bytes.Buffer
		err := app.Run(ctx, append([]string{"carto-setup", "logs", "--state-dir", state, "--dir", dir}, args...),
			func(string) string { return "" }, &out, &errOut)
		if err != nil {
			t.Logf("logs %v: %v %s", args, err, &errOut)
		}
		return out.String()
	}
	testenv.WaitFor(t, "both secrets' lines in the kept logs", 60*time.Second, func() bool {
		out := logs("leak", "leakenv", "--grep", "STANDIN_LOG_INTERVAL=")
		return strings.Count(out, "configuration error") == 2
	})
	shown := logs("leak", "leakenv")
	if strings.Contains(shown, adminPW) || strings.Contains(shown, envSecret) || !strings.Contains(shown, `STANDIN_LOG_INTERVAL=\"****s\"`) {
		t.Errorf("the kept lines of the leaking services are not masked:\n%s", shown)
	}

	// The flood: the timeline stays under its cap while it grows.
	const capBytes = 1 << 20
	floodDir := filepath.Join(state, "logs", "flood")
	largest, rotated := int64(0), false
	began := time.Now()
	for time.Since(began) < 30*time.Second && !(rotated && time.Since(began) > 8*time.Second) {
		size := dirSize(t, floodDir)
		largest = max(largest, size)
		if size > capBytes {
			t.Fatalf("the flood's timeline holds %d bytes, over its cap of %d", size, capBytes)
		}
		// The first segment is gone once the cap made room.
		if _, err := os.Stat(filepath.Join(floodDir, "0000000000000001.seg")); size > 0 && errors.Is(err, fs.ErrNotExist) {
			rotated = true
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !rotated {
		t.Fatalf("the flood never made the timeline drop a segment (largest %d bytes): not a flood", largest)
	}
	var res struct {
		Lines []struct{ Text string } `json:"lines"`
	}
	if err := json.Unmarshal([]byte(logs("flood", "--since", "5s", "--json")), &res); err != nil || len(res.Lines) == 0 {
		t.Fatalf("the flood's newest lines are not kept: %v, %d lines", err, len(res.Lines))
	}
	stop()

	// Nothing the store wrote holds a secret, in any file.
	filepath.WalkDir(filepath.Join(state, "logs"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range []string{adminPW, envSecret} {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("%s holds a secret", p)
			}
		}
		return nil
	})
	if t.Failed() {
		t.Logf("wizard console:\n%s\n%s", &stdout, &stderr)
	}
}

func randHex(t *testing.T) string {
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// dirSize returns the bytes of the files in dir.
func dirSize(t *testing.T, dir string) int64 {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return 0
	}
	var n int64
	for _, e := range ents {
		if info, err := e.Info(); err == nil && !e.IsDir() {
			n += info.Size()
		}
	}
	return n
}
