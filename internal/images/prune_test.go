package images

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/carto-setup/carto-setup/internal/engine"
	"github.com/carto-setup/carto-setup/internal/registrytest"
)

// TestPruneSuperseded builds four tags of a helper repository, one of
// them used by a (created, never started) container, and prunes all but
// the newest; one built after the cut-off stays too.
func TestPruneSuperseded(t *testing.T) {
	t.Parallel()
	eng := registrytest.Engine(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	repo := registrytest.UniqueName("carto-setup-prunetest")
	old, used, current := repo+":old", repo+":used", repo+":current"
	for _, ref := range []string{old, used, current} {
		registrytest.BuildImage(t, eng, ref, 1024)
	}
	id, err := eng.CreateContainer(ctx, engine.ContainerSpec{Image: used, Cmd: []string{"x"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.RemoveContainer(context.Background(), id) })

	// Docker records creation times in whole seconds for a build; the
	// cut-off falls strictly between the first three and the young one.
	time.Sleep(1100 * time.Millisecond)
	cutoff := time.Now()
	time.Sleep(1100 * time.Millisecond)
	young := repo + ":young"
	registrytest.BuildImage(t, eng, young, 2048)

	removed, kept, err := PruneSuperseded(ctx, eng, repo, current, cutoff)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(removed, []string{old}) || !slices.Equal(kept, []string{used, young}) {
		t.Errorf("removed %v kept %v; want %s removed, %s (in use) and %s (young) kept", removed, kept, old, used, young)
	}
	tags, err := eng.ImageTags(ctx, repo)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(tags, []string{current, used, young}) {
		t.Errorf("left %v", tags)
	}
	if _, _, err := PruneSuperseded(ctx, eng, "gcr.io/carto-onprem-artifacts/maps-api", "", time.Now()); err == nil {
		t.Error("PruneSuperseded accepted a release repository")
	}
}
