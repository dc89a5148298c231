package images

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/carto-setup/carto-setup/internal/engine"
	"github.com/carto-setup/carto-setup/internal/registrytest"
)

// TestPruneSuperseded builds three tags of a helper repository, one of
// them used by a (created, never started) container, and prunes all but
// the newest.
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

	removed, kept, err := PruneSuperseded(ctx, eng, repo, current)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(removed, []string{old}) || !slices.Equal(kept, []string{used}) {
		t.Errorf("removed %v kept %v; want %s removed and %s kept (in use)", removed, kept, old, used)
	}
	tags, err := eng.ImageTags(ctx, repo)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(tags, []string{current, used}) {
		t.Errorf("left %v", tags)
	}
	if _, _, err := PruneSuperseded(ctx, eng, "gcr.io/carto-onprem-artifacts/maps-api", ""); err == nil {
		t.Error("PruneSuperseded accepted a release repository")
	}
}
