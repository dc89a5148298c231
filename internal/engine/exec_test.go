package engine

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/carto-setup/carto-setup/internal/testenv"
)

// execHelperSource idles as the container's main process; exec'd with
// "run" it copies its standard input to its standard output, writes the
// variable SECRET_FOR_EXEC to its standard error, and exits with the code
// its second argument names.
const execHelperSource = `package main

import (
	"io"
	"os"
	"strconv"
	"time"
)

func main() {
	if len(os.Args) < 3 || os.Args[1] != "run" {
		for {
			time.Sleep(time.Hour)
		}
	}
	io.Copy(os.Stdout, os.Stdin)
	os.Stderr.WriteString("env=" + os.Getenv("SECRET_FOR_EXEC") + "\n")
	code, _ := strconv.Atoi(os.Args[2])
	os.Exit(code)
}
`

// TestExecLive runs commands in a real container: binary input passes
// both ways unchanged (no terminal), stdout and stderr arrive apart, the
// environment reaches the command without being on its command line, and
// the exit code is the command's.
func TestExecLive(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	eng, err := New(ctx)
	if err != nil {
		testenv.Missing(t, "Docker Engine", "install Docker Engine 20.10+ and start it: "+err.Error())
	}
	t.Cleanup(func() { eng.Close() })

	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(execHelperSource), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "helper")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "main.go")
	build.Dir = dir
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOWORK=off", "GOFLAGS=")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	exe, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	tag := "carto-setup-exectest:" + strings.ToLower(rand.Text()[:8])
	if err := eng.BuildImage(ctx, tag, map[string]BuildFile{"helper": {Data: exe, Mode: 0o755}},
		"FROM scratch\nCOPY helper /helper\nENTRYPOINT [\"/helper\"]\n", nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := eng.RemoveImage(context.Background(), tag); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	id, err := eng.CreateContainer(ctx, ContainerSpec{Image: tag, AutoRemove: false})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := eng.RemoveContainer(context.Background(), id); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	if err := eng.StartContainer(ctx, id); err != nil {
		t.Fatal(err)
	}

	// 3 MB of every byte value, as a pg_dump archive would be.
	in := make([]byte, 3<<20)
	for i := range in {
		in[i] = byte(i * 7)
	}
	var stdout, stderr bytes.Buffer
	code, err := eng.Exec(ctx, id, []string{"/helper", "run", "3"}, []string{"SECRET_FOR_EXEC=s3cr3t"}, bytes.NewReader(in), &stdout, &stderr)
	if err != nil {
		t.Fatal(err)
	}
	if code != 3 {
		t.Errorf("exit code %d, want 3", code)
	}
	if got, want := sha256.Sum256(stdout.Bytes()), sha256.Sum256(in); got != want || stdout.Len() != len(in) {
		t.Errorf("stdout: %d bytes (sha256 %s), want the %d input bytes", stdout.Len(), hex.EncodeToString(got[:4]), len(in))
	}
	if stderr.String() != "env=s3cr3t\n" {
		t.Errorf("stderr %q", stderr.String())
	}

	// No input and a zero exit.
	stdout.Reset()
	stderr.Reset()
	code, err = eng.Exec(ctx, id, []string{"/helper", "run", "0"}, nil, nil, &stdout, &stderr)
	if err != nil || code != 0 || stdout.Len() != 0 || stderr.String() != "env=\n" {
		t.Errorf("without input: code %d, err %v, stdout %q, stderr %q", code, err, stdout.String(), stderr.String())
	}

	// A command that does not exist is the daemon's error or a non-zero
	// exit, never a success.
	code, err = eng.Exec(ctx, id, []string{"/no-such-tool"}, nil, nil, nil, nil)
	if err == nil && code == 0 {
		t.Error("a missing command succeeded")
	}
}
