package registrytest

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/carto-setup/carto-setup/internal/engine"
)

// TestPushAndPullWithLogin pushes a locally built image into a registry
// that requires a login, then has the Docker Engine pull it back: refused
// without the login, throttled and complete with it.
func TestPushAndPullWithLogin(t *testing.T) {
	t.Parallel()
	eng := Engine(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	reg := Start(t, Options{Username: "carto", Password: "s3cret"})
	local := UniqueName("carto-setup-regtest/img:")
	BuildImage(t, eng, local, 64<<10, 512<<10)
	remote := reg.Ref(local)
	if err := reg.Push(ctx, eng, local, remote); err != nil {
		t.Fatal(err)
	}
	RemoveAfter(t, eng, remote)
	// The daemon skips a pull whose image it already has: drop the local
	// copy so that every layer has to come from the registry.
	if err := eng.RemoveImage(ctx, local); err != nil {
		t.Fatal(err)
	}

	err := eng.PullImage(ctx, remote, nil, nil)
	var pe *engine.PullError
	if !errors.As(err, &pe) {
		t.Fatalf("pull without the login: %v, want a *engine.PullError", err)
	}
	t.Logf("without login: %s", pe.Message)
	if ok, _ := eng.ImageExists(ctx, remote); ok {
		t.Fatal("the image is present after a refused pull")
	}

	reg.SetRate(256 << 10)
	var events []engine.PullEvent
	auth := &engine.RegistryAuth{Username: "carto", Password: "s3cret", ServerAddress: reg.Host}
	if err := eng.PullImage(ctx, remote, auth, func(ev engine.PullEvent) { events = append(events, ev) }); err != nil {
		t.Fatalf("pull with the login: %v", err)
	}
	var downloading int
	for _, ev := range events {
		if ev.Status == "Downloading" && ev.Layer != "" && ev.Total > 0 {
			downloading++
		}
	}
	if downloading < 2 {
		t.Errorf("%d Downloading events with a size, want several", downloading)
	}
	if reg.BlobBytes() < 512<<10 {
		t.Errorf("the registry served %d blob bytes, want at least the big layer", reg.BlobBytes())
	}
	if ok, err := eng.ImageExists(ctx, remote); err != nil || !ok {
		t.Fatalf("image present after pull = %v, %v", ok, err)
	}

	if !errors.As(eng.PullImage(ctx, reg.Ref("carto-setup-regtest/img:missing"), auth, nil), &pe) ||
		!strings.Contains(pe.Message, "manifest unknown") {
		t.Errorf("pull of a missing tag: %v, want the daemon's manifest unknown", pe)
	}
	reg.Stop()
	if err := eng.PullImage(ctx, remote, auth, nil); !errors.As(err, &pe) || !strings.Contains(pe.Message, "connection refused") {
		t.Errorf("pull from the stopped registry: %v, want connection refused", err)
	}
	reg.Restart(t)
	if err := eng.PullImage(ctx, remote, auth, nil); err != nil {
		t.Errorf("pull after Restart: %v", err)
	}
}
