package engine

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/carto-setup/carto-setup/internal/testenv"
)

func TestTarContext(t *testing.T) {
	data, err := tarContext(map[string]BuildFile{
		"bin/app":  {Data: []byte("exe"), Mode: 0o755},
		"conf.txt": {Data: []byte("conf")},
	}, "FROM scratch\n")
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(bytes.NewReader(data))
	got := map[string]int64{}
	contents := map[string]string{}
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		got[hdr.Name] = hdr.Mode
		contents[hdr.Name] = string(b)
	}
	tests := []struct {
		name     string
		mode     int64
		contents string
	}{
		{"Dockerfile", 0o644, "FROM scratch\n"},
		{"bin/app", 0o755, "exe"},
		{"conf.txt", 0o644, "conf"},
	}
	for _, tt := range tests {
		if got[tt.name] != tt.mode || contents[tt.name] != tt.contents {
			t.Errorf("%s: mode %o contents %q, want %o %q", tt.name, got[tt.name], contents[tt.name], tt.mode, tt.contents)
		}
	}
}

func TestCopyBuildMessages(t *testing.T) {
	tests := []struct {
		name    string
		stream  string
		wantOut string
		wantErr string
	}{
		{
			name:    "success",
			stream:  `{"stream":"Step 1/2 : FROM scratch\n"}{"stream":"\n"}{"aux":{"ID":"sha256:1"}}{"status":"done"}`,
			wantOut: "Step 1/2 : FROM scratch\n\ndone\n",
		},
		{
			name:    "daemon error",
			stream:  `{"stream":"Step 2/2 : COPY x /x\n"}{"errorDetail":{"message":"COPY failed: file not found"},"error":"COPY failed: file not found"}`,
			wantOut: "Step 2/2 : COPY x /x\n",
			wantErr: "daemon: COPY failed: file not found",
		},
		{
			name:    "truncated stream",
			stream:  `{"stream":"Ste`,
			wantErr: "read progress",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out strings.Builder
			err := copyBuildMessages(strings.NewReader(tt.stream), &out)
			if tt.wantErr == "" && err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
			}
			if tt.wantOut != "" && out.String() != tt.wantOut {
				t.Errorf("progress %q, want %q", out.String(), tt.wantOut)
			}
		})
	}
}

// helloSource is a tiny program that proves the image runs the copied file.
const helloSource = `package main

import (
	"fmt"
	"os"
)

func main() { fmt.Println("hello from scratch", len(os.Args)) }
`

func TestBuildImage(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	eng, err := New(ctx)
	if err != nil {
		testenv.Missing(t, "Docker Engine", "install Docker Engine 20.10+ and start it: "+err.Error())
	}
	t.Cleanup(func() { eng.Close() })
	docker := testenv.LookPath(t, "docker", "apt-get install docker.io")

	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(helloSource), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "hello")
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

	suffix := make([]byte, 4)
	rand.Read(suffix)
	tag := "carto-setup-enginetest:" + hex.EncodeToString(suffix)
	t.Cleanup(func() {
		if err := eng.RemoveImage(context.Background(), tag); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})

	if ok, err := eng.ImageExists(ctx, tag); err != nil || ok {
		t.Fatalf("ImageExists before build = %v, %v; want false, nil", ok, err)
	}

	var progress bytes.Buffer
	err = eng.BuildImage(ctx, tag, map[string]BuildFile{"hello": {Data: exe, Mode: 0o755}},
		"FROM scratch\nCOPY hello /hello\nENTRYPOINT [\"/hello\"]\n", &progress)
	if err != nil {
		t.Fatalf("BuildImage: %v\nprogress:\n%s", err, progress.String())
	}
	if !strings.Contains(progress.String(), "COPY hello /hello") {
		t.Errorf("progress does not show the build steps:\n%s", progress.String())
	}
	if ok, err := eng.ImageExists(ctx, tag); err != nil || !ok {
		t.Fatalf("ImageExists after build = %v, %v; want true, nil", ok, err)
	}

	out, err := exec.CommandContext(ctx, docker, "run", "--rm", tag, "a", "b").CombinedOutput()
	if err != nil {
		t.Fatalf("docker run: %v\n%s", err, out)
	}
	if got := strings.TrimSpace(string(out)); got != "hello from scratch 3" {
		t.Errorf("docker run printed %q, want %q", got, "hello from scratch 3")
	}

	t.Run("daemon error is returned", func(t *testing.T) {
		badTag := tag + "-bad"
		err := eng.BuildImage(ctx, badTag, nil, "FROM scratch\nCOPY missing-file /x\n", io.Discard)
		if err == nil {
			eng.RemoveImage(context.Background(), badTag)
			t.Fatal("BuildImage succeeded with a COPY of a missing file")
		}
		if !strings.Contains(err.Error(), "missing-file") {
			t.Errorf("error %q does not carry the daemon's message", err)
		}
	})

	if err := eng.RemoveImage(ctx, tag); err != nil {
		t.Fatalf("RemoveImage: %v", err)
	}
	if ok, err := eng.ImageExists(ctx, tag); err != nil || ok {
		t.Fatalf("ImageExists after remove = %v, %v; want false, nil", ok, err)
	}
}
