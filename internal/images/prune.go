package images

import (
	"context"
	"fmt"
	"strings"
)

// Pruner is the part of the Docker Engine that pruning uses;
// *engine.Client satisfies it.
type Pruner interface {
	ImageTags(ctx context.Context, repo string) ([]string, error)
	RemoveUnusedImage(ctx context.Context, ref string) (bool, error)
}

// PruneSuperseded removes the images of a helper repository that
// carto-setup built itself (carto-setup-port80, carto-setup-probe, tagged
// by content) other than keep, its current "repo:tag". An image a
// container still uses is left, and listed in kept. It must not be given a
// repository of the release: those belong to the admin.
func PruneSuperseded(ctx context.Context, eng Pruner, repo, keep string) (removed, kept []string, err error) {
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
