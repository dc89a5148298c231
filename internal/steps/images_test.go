package steps

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/carto-setup/carto-setup/internal/deploy"
	"github.com/carto-setup/carto-setup/internal/images"
	"github.com/carto-setup/carto-setup/internal/logstream"
	"github.com/carto-setup/carto-setup/internal/registrytest"
)

// TestPullImagesReports pulls two images from the in-process registry
// (one already present) and follows every report: the board keeps the
// latest per image, the job log gets one line per change, and the JSON
// lines of apply --json carry the bytes as they move, then the total.
func TestPullImagesReports(t *testing.T) {
	t.Parallel()
	eng := registrytest.Engine(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	reg := registrytest.Start(t, registrytest.Options{Rate: 1 << 20})
	name := registrytest.UniqueName("carto-setup-stepstest/pull-")
	local := name + "-local:1"
	registrytest.BuildImage(t, eng, local, 64<<10)
	remote := reg.Ref(name + ":1")
	if err := reg.PushPadded(ctx, eng, local, remote, 3<<20); err != nil {
		t.Fatal(err)
	}
	registrytest.RemoveAfter(t, eng, remote)

	var board ImagesBoard
	var log, events bytes.Buffer
	final, err := PullImages(ctx, eng, []string{local, remote}, ImagesConfig{Remote: &images.Remote{Keychain: reg.Keychain()},
		Interval: 100 * time.Millisecond}, &board, &log, &events)
	if err != nil {
		t.Fatalf("PullImages: %v\n%s", err, &log)
	}
	if final[0].Status != images.Present || final[1].Status != images.Done {
		t.Fatalf("final %+v", final)
	}
	snap := board.Snapshot()
	if len(snap) != 2 || snap[1].Status != images.Done || snap[1].BytesDone < 3<<20 {
		t.Errorf("board %+v, want both images, the pulled one with its bytes", snap)
	}
	text := log.String()
	for _, want := range []string{local + " is present; not pulled.", "Pulling " + remote, "Pulled " + remote, "Every image of the release is present"} {
		if !strings.Contains(text, want) {
			t.Errorf("the job log lacks %q:\n%s", want, text)
		}
	}
	var rising int
	var last int64
	var done bool
	sc := bufio.NewScanner(&events)
	for sc.Scan() {
		var ev struct {
			Event     string          `json:"event"`
			Image     string          `json:"image"`
			Status    string          `json:"status"`
			BytesDone int64           `json:"bytes_done"`
			Overall   images.Progress `json:"overall"`
		}
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("not a JSON line: %q: %v", sc.Text(), err)
		}
		switch ev.Event {
		case "image":
			if ev.Image == remote && ev.Status == "pulling" && ev.BytesDone > last {
				rising++
				last = ev.BytesDone
			}
		case "images_done":
			done = ev.Overall.Status == images.Done
		default:
			t.Errorf("unknown event %q", ev.Event)
		}
	}
	if rising < 3 || !done {
		t.Errorf("JSON lines: bytes rose %d times while pulling, done %v; want several and done", rising, done)
	}
}

// TestPullError names the first failure with its fix, and every failed
// image.
func TestPullError(t *testing.T) {
	err := pullError(&images.Error{Failures: []images.Failure{
		{Image: "r/a:1", Kind: images.NotFound, Message: "The registry r has no image r/a:1.", Hint: "Check out the release tag."},
		{Image: "r/b:1", Kind: images.NotFound, Message: "The registry r has no image r/b:1.", Hint: "Check out the release tag."},
	}})
	var de *deploy.Error
	if !errors.As(err, &de) || de.Step != "images" || !strings.Contains(de.Message, "2 images could not be pulled (r/a:1, r/b:1)") || de.Hint != "Check out the release tag." {
		t.Errorf("pullError = %#v", err)
	}
	if pullError(nil) != nil {
		t.Error("pullError(nil) is not nil")
	}
}

// TestFinishedInstallKeepsItsPullPhase: when an install ends its run is
// shrunk to what the job page shows, and the pull phase is part of that:
// the finished page names every image and what happened to it.
func TestFinishedInstallKeepsItsPullPhase(t *testing.T) {
	run := &installRun{hub: logstream.NewHub(logstream.HubConfig{}), board: deploy.NewBoard(deploy.BoardConfig{}), images: &ImagesBoard{}}
	run.images.Observe(images.Progress{Image: "registry.example/a:1", Status: images.Present})
	run.images.Observe(images.Progress{Image: "registry.example/b:1", Status: images.Done, BytesDone: 10, BytesTotal: 10})
	got := shrinkRun(run).images.Snapshot()
	if len(got) != 2 || got[0].Status != images.Present || got[1].Status != images.Done {
		t.Fatalf("the finished install's pull phase: %+v", got)
	}
}
