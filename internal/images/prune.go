package images

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/carto-setup/carto-setup/internal/engine"
)

// Pruner is the part of the Docker Engine that pruning uses;
// *engine.Client satisfies it.
type Pruner interface {
	ImageTags(ctx context.Context, repo string) ([]string, error)
	InspectImage(ctx context.Context, ref string) (engine.ImageInfo, error)
	RemoveUnusedImage(ctx context.Context, ref string) (bool, error)
}

// PruneSuperseded removes the images of a helper repository that
// carto-setup built itself (carto-setup-port80, carto-setup-probe, tagged
// by content) other than keep, its current "repo:tag", and created before
// olderThan. An image a container still uses is left, and listed in kept;
// so is a younger one, which another carto-setup on this engine may be
// about to use (the one a test run just built). It must not be given a
// repository of the release: those belong to the admin.
func PruneSuperseded(ctx context.Context, eng Pruner, repo, keep string, olderThan time.Time) (removed, kept []string, err error) {
	if !strings.HasPrefix(repo, "carto-setup-") || strings.Contains(repo, "/") {
		return nil, nil, fmt.Errorf("images: prune: %s is not a carto-setup helper repository", repo)
	}
	tags, err := eng.ImageTags(ctx, repo)
	if err != nil {
		return nil, nil, fmt.Errorf("images: prune: %w", err)
	}
	for _, tag := range tags {
		if tag == keep {
			continue
		}
		info, err := eng.InspectImage(ctx, tag)
		if errors.Is(err, engine.ErrImageNotFound) {
			continue // removed meanwhile
		}
		if err != nil {
			return removed, kept, fmt.Errorf("images: prune: %w", err)
		}
		if !info.Created.Before(olderThan) {
			kept = append(kept, tag)
			continue
		}
		ok, err := eng.RemoveUnusedImage(ctx, tag)
		if err != nil {
			return removed, kept, fmt.Errorf("images: prune: %w", err)
		}
		if ok {
			removed = append(removed, tag)
		} else {
			kept = append(kept, tag)
		}
	}
	return removed, kept, nil
}

// PruneGrace is how old a superseded helper image must be before it is
// pruned: younger ones may belong to another carto-setup on the same
// engine that is about to start a container from it.
const PruneGrace = time.Hour

// PruneBuilt is PruneSuperseded for the helper image built, just built
// ("carto-setup-probe:<hash>"): every other tag of its repository older
// than PruneGrace at now goes, unless in use. It returns what it removed.
func PruneBuilt(ctx context.Context, eng Pruner, built string, now time.Time) ([]string, error) {
	repo, _, ok := strings.Cut(built, ":")
	if !ok {
		return nil, fmt.Errorf("images: prune: %s has no tag", built)
	}
	removed, _, err := PruneSuperseded(ctx, eng, repo, built, now.Add(-PruneGrace))
	return removed, err
}
