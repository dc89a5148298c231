package release

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestUseRegistry(t *testing.T) {
	dir := t.TempDir()
	if err := Write(dir, "2026.8.11"); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(filepath.Join(dir, "env.tpl"))
	if !strings.Contains(string(before), "DOCKER_REGISTRY_BASE_PATH="+DefaultRegistryBase+"\n") {
		t.Fatalf("env.tpl does not set the default base path %s", DefaultRegistryBase)
	}
	if err := UseRegistry(dir, "127.0.0.1:5000/carto-standin/"); err != nil {
		t.Fatal(err)
	}
	after, _ := os.ReadFile(filepath.Join(dir, "env.tpl"))
	want := strings.Replace(string(before), "DOCKER_REGISTRY_BASE_PATH="+DefaultRegistryBase+"\n",
		"DOCKER_REGISTRY_BASE_PATH=127.0.0.1:5000/carto-standin\n", 1)
	if string(after) != want {
		t.Errorf("env.tpl after UseRegistry differs in more than the base path")
	}
	for _, bad := range []string{"", "a b", "x\nEVIL=1", "$(id)"} {
		if err := UseRegistry(dir, bad); err == nil {
			t.Errorf("UseRegistry(%q) succeeded", bad)
		}
	}
	if got := RemoteImageTags("127.0.0.1:5000/carto-standin/", "2026.8.11"); !slices.Equal(got, []string{"127.0.0.1:5000/carto-standin/standin:2026.8.11", "127.0.0.1:5000/carto-standin/router-http:2026.8.11"}) {
		t.Errorf("RemoteImageTags = %v", got)
	}
}

func TestPushImages(t *testing.T) {
	var got [][2]string
	push := func(_ context.Context, local, remote string) error {
		got = append(got, [2]string{local, remote})
		return nil
	}
	if err := PushImages(context.Background(), push, "reg:5000/carto-standin", "2026.8.11"); err != nil {
		t.Fatal(err)
	}
	want := [][2]string{
		{ImageTag("2026.8.11"), "reg:5000/carto-standin/standin:2026.8.11"},
		{RouterImageRepository + ":2026.8.11", "reg:5000/carto-standin/router-http:2026.8.11"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("pushed %v, want %v", got, want)
	}
	boom := errors.New("boom")
	if err := PushImages(context.Background(), func(context.Context, string, string) error { return boom }, "r", "2026.8.11"); !errors.Is(err, boom) {
		t.Errorf("push error lost: %v", err)
	}
	if err := PushImages(context.Background(), push, "r", "latest"); err == nil {
		t.Error("PushImages accepted the version latest")
	}
}
