package upgradeflow

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"syscall"

	"github.com/carto-setup/carto-setup/internal/check"
	"github.com/carto-setup/carto-setup/internal/engine"
	"github.com/carto-setup/carto-setup/internal/upgrade"
)

// imageHeadroom is kept free beyond the new images: the containers' logs
// and layers written while the new release starts.
const imageHeadroom = 2e9

// ImageDiskID is the preflight result about room for the new images.
const ImageDiskID = "upgrade.image_disk"

// imageDisk checks that Docker's data root has room for the target
// release's images that the engine does not have yet. The size of an image
// not yet pulled is unknown; the installed image of the same service
// stands in for it (CARTO's images change little from one release to the
// next).
func imageDisk(ctx context.Context, eng *engine.Client, plan upgrade.Plan, statfs func(string) (free uint64, err error)) check.Result {
	r := check.Result{Step: "preflight", ID: ImageDiskID}
	var missing []string
	var need int64
	unknown := 0
	for _, s := range plan.Services {
		if s.NewImage == "" || slices.Contains(missing, s.NewImage) {
			continue
		}
		if ok, err := eng.ImageExists(ctx, s.NewImage); err == nil && ok {
			continue
		}
		missing = append(missing, s.NewImage)
		if s.OldImage == "" {
			unknown++
			continue
		}
		info, err := eng.InspectImage(ctx, s.OldImage)
		if err != nil {
			unknown++
			continue
		}
		need += info.Size
	}
	if len(missing) == 0 {
		r.Status, r.Measured, r.Required = check.Pass, "every image of "+plan.To+" is on this host", "room for the new images"
		r.Message = "The images of " + plan.To + " are already on this host: the upgrade needs no disk for them."
		return r
	}
	info, err := eng.Info(ctx)
	if err != nil {
		r.Status, r.Measured, r.Required = check.Error, "Docker's data root unknown", "room for the new images"
		r.Message, r.Hint = "Could not ask Docker where it keeps its images.", "Check that Docker is running."
		return r
	}
	free, err := statfs(info.DockerRootDir)
	required := uint64(need) + imageHeadroom
	r.Required = fmt.Sprintf("%s free for %d new image(s) (estimated from the installed ones) and %s of headroom", gb(uint64(need)), len(missing), gb(imageHeadroom))
	if err != nil {
		r.Status, r.Measured = check.Warn, "cannot measure "+info.DockerRootDir
		r.Message = "Could not measure the free disk under Docker's data root from here."
		r.Hint = "Check it with df -h " + info.DockerRootDir + " before continuing."
		return r
	}
	r.Measured = fmt.Sprintf("%s free on %s", gb(free), info.DockerRootDir)
	switch {
	case free < required:
		r.Status = check.Fail
		r.Message = fmt.Sprintf("There is not enough free disk for the images of %s.", plan.To)
		r.Hint = "Free space first (docker image prune removes images no container uses) or grow the disk."
	case unknown > 0:
		r.Status = check.Warn
		r.Message = fmt.Sprintf("%d of the new images have no installed counterpart, so their size is unknown; the others fit.", unknown)
		r.Hint = "Keep an eye on the disk while the images are pulled."
	default:
		r.Status = check.Pass
		r.Message = fmt.Sprintf("There is room for the images of %s.", plan.To)
	}
	return r
}

// statFree returns the bytes free to an unprivileged user under path.
func statFree(path string) (uint64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return 0, errors.Join(fmt.Errorf("statfs %s", path), err)
	}
	return st.Bavail * uint64(st.Bsize), nil
}

func gb(b uint64) string { return fmt.Sprintf("%.1f GB", float64(b)/1e9) }
