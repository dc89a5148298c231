package engine

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/carto-setup/carto-setup/internal/testenv"
)

func TestRegistryAuthEncode(t *testing.T) {
	enc, err := RegistryAuth{Username: "_json_key", Password: `{"k":"v"}`, ServerAddress: "gcr.io"}.encode()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := base64.URLEncoding.DecodeString(enc)
	if err != nil {
		t.Fatalf("not base64url: %v", err)
	}
	var got map[string]string
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	if got["username"] != "_json_key" || got["password"] != `{"k":"v"}` || got["serveraddress"] != "gcr.io" {
		t.Errorf("decoded %v", got)
	}
}

func TestIsShortID(t *testing.T) {
	for id, want := range map[string]bool{
		"6cdbe43d03a4": true, "2026.8.11": false, "latest": false, "6CDBE43D03A4": false, "6cdbe43d03a": false, "": false,
	} {
		if isShortID(id) != want {
			t.Errorf("isShortID(%q) = %v", id, !want)
		}
	}
}

// TestSaveLoadInspect exports a built image, removes it, loads it back
// and inspects it.
func TestSaveLoadInspect(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	eng, err := New(ctx)
	if err != nil {
		testenv.Missing(t, "Docker Engine", "install Docker Engine 20.10+ and start it: "+err.Error())
	}
	t.Cleanup(func() { eng.Close() })
	suffix := make([]byte, 5)
	rand.Read(suffix)
	tag := "carto-setup-enginetest/save:" + hex.EncodeToString(suffix)
	alias := tag + "-alias"
	t.Cleanup(func() {
		eng.RemoveImage(context.Background(), tag)
		eng.RemoveImage(context.Background(), alias)
	})
	data := make([]byte, 4096)
	rand.Read(data)
	if err := eng.BuildImage(ctx, tag, map[string]BuildFile{"blob": {Data: data}}, "FROM scratch\nCOPY blob /blob\nUSER 101:101\n", nil); err != nil {
		t.Fatal(err)
	}
	info, err := eng.InspectImage(ctx, tag)
	if err != nil {
		t.Fatal(err)
	}
	if info.User != "101:101" || !strings.HasPrefix(info.ID, "sha256:") || info.Size < 4096 || !slices.Contains(info.RepoTags, tag) {
		t.Errorf("InspectImage = %+v", info)
	}
	if err := eng.TagImage(ctx, tag, alias); err != nil {
		t.Fatal(err)
	}

	rc, err := eng.SaveImages(ctx, []string{tag, alias})
	if err != nil {
		t.Fatal(err)
	}
	var saved bytes.Buffer
	_, err = io.Copy(&saved, rc)
	rc.Close()
	if err != nil {
		t.Fatal(err)
	}
	for _, ref := range []string{tag, alias} {
		if err := eng.RemoveImage(ctx, ref); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := eng.InspectImage(ctx, tag); !errors.Is(err, ErrImageNotFound) {
		t.Fatalf("InspectImage after remove: %v, want ErrImageNotFound", err)
	}

	var lines []string
	loaded, err := eng.LoadImages(ctx, bytes.NewReader(saved.Bytes()), func(l string) { lines = append(lines, l) })
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(loaded)
	if !slices.Equal(loaded, []string{tag, alias}) {
		t.Errorf("loaded %v (lines %q), want both names", loaded, lines)
	}
	again, err := eng.InspectImage(ctx, alias)
	if err != nil || again.ID != info.ID {
		t.Errorf("loaded image %+v, %v; want ID %s", again, err, info.ID)
	}

	// A truncated archive is refused by the daemon, with its reason.
	if _, err := eng.LoadImages(ctx, bytes.NewReader(saved.Bytes()[:saved.Len()/2]), nil); err == nil {
		t.Error("LoadImages accepted half an archive")
	}
	if _, err := eng.SaveImages(ctx, nil); err == nil {
		t.Error("SaveImages of nothing succeeded")
	}
}
