package preflight

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"syscall"
	"time"

	"github.com/carto-setup/carto-setup/internal/check"
	"github.com/carto-setup/carto-setup/internal/compose"
	"github.com/carto-setup/carto-setup/internal/engine"
)

// Disk thresholds. CARTO asks for a 60 GB disk. A VM that has one shows
// less than 60 GB free once the OS is on it, so a filesystem of at least
// diskSizeOK bytes (a 60 GB disk less filesystem overhead) passes with
// diskFreeMin free; any filesystem passes with diskFreeOK free. Below
// diskFreeMin the images (about 10-15 GB), the capped container logs and
// the embedded database do not fit, and the check fails.
const (
	diskFreeOK  = 60e9
	diskSizeOK  = 55e9
	diskFreeMin = 20e9
)

const diskRequired = "60 GB disk (at least 20 GB free)"

// diskResult judges free space on one filesystem. what names the path for
// messages ("the release directory").
func diskResult(id, what, path string, d Disk, note string) check.Result {
	measured := fmt.Sprintf("%s free of %s on %s%s", gb(d.Free), gb(d.Size), path, note)
	switch {
	case d.Free >= diskFreeOK || d.Size >= diskSizeOK && d.Free >= diskFreeMin:
		return result(id, check.Pass, measured, diskRequired, "There is enough free disk for "+what+".", "")
	case d.Free >= diskFreeMin:
		return result(id, check.Warn, measured, diskRequired,
			"The filesystem of "+what+" is smaller than the 60 GB CARTO asks for; it may fill up as images and logs accumulate.",
			"Grow the disk to 60 GB or more (and the filesystem with growpart and resize2fs).")
	}
	return result(id, check.Fail, measured, diskRequired,
		"There is not enough free disk for "+what+": CARTO's images, logs and data need at least 20 GB.",
		"Free space (docker system prune removes unused images) or grow the disk to 60 GB or more.")
}

func gb(b uint64) string { return fmt.Sprintf("%.1f GB", float64(b)/1e9) }

// checkDisksAndDocker reports disk_release, docker and disk_docker. They
// run together because Docker's data root comes from the engine and is
// compared with the release directory's filesystem.
func checkDisksAndDocker(ctx context.Context, deps Deps, cfg Config) []check.Result {
	var releaseDisk *Disk
	var release check.Result
	if d, err := deps.StatFS(cfg.ReleaseDir); err != nil {
		release = result("preflight.disk_release", check.Error, "cannot stat "+cfg.ReleaseDir, diskRequired,
			"Could not measure free disk for the release directory.",
			"Check that the release directory exists and run df -h on it.")
	} else {
		releaseDisk = &d
		release = diskResult("preflight.disk_release", "the release directory", cfg.ReleaseDir, d, "")
	}

	dockerRes, info, ok := checkDocker(ctx, deps)
	var dockerDisk check.Result
	const diskID = "preflight.disk_docker"
	if !ok {
		dockerDisk = result(diskID, check.Error, "Docker's data root unknown", diskRequired,
			"Could not ask Docker where it keeps its data.", "Fix the Docker check first.")
		return []check.Result{release, dockerRes, dockerDisk}
	}
	switch d, err := deps.StatFS(info.DockerRootDir); {
	case errors.Is(err, fs.ErrNotExist):
		dockerDisk = result(diskID, check.Error, info.DockerRootDir+" is not visible here", diskRequired,
			"Docker's data root does not exist on this filesystem view; the engine may be remote, rootless or in a snap.",
			"Check free space where Docker keeps its data with docker system df and df -h on the Docker host.")
	case err != nil:
		dockerDisk = result(diskID, check.Error, "cannot stat "+info.DockerRootDir, diskRequired,
			"Could not measure free disk under Docker's data root from this user.",
			"Check free space with sudo df -h "+info.DockerRootDir+".")
	default:
		note := ""
		if releaseDisk != nil && releaseDisk.Device == d.Device {
			note = " (the release directory's filesystem)"
		}
		dockerDisk = diskResult(diskID, "Docker's images and containers", info.DockerRootDir, d, note)
	}
	return []check.Result{release, dockerRes, dockerDisk}
}

// engineTimeout bounds connecting to the engine and each request.
const engineTimeout = 5 * time.Second

// checkDocker connects to the engine and checks its version. It returns
// the engine's Info for the disk check, and whether it got it.
func checkDocker(ctx context.Context, deps Deps) (check.Result, engine.Info, bool) {
	const id, required = "preflight.docker", "Docker Engine 20.10 or newer"
	ctx, cancel := context.WithTimeout(ctx, engineTimeout)
	defer cancel()
	eng, err := deps.Engine(ctx)
	if err != nil {
		measured, hint := describeSocketError(err)
		r := result(id, check.Fail, measured, required, "Could not reach the Docker Engine.", hint)
		r.Fixed = true
		return r, engine.Info{}, false
	}
	defer eng.Close()
	v, err := eng.Version(ctx)
	if err != nil {
		return result(id, check.Error, "no answer to a version request", required,
			"The Docker Engine did not report its version.", "Check the daemon's health: sudo systemctl status docker."), engine.Info{}, false
	}
	info, err := eng.Info(ctx)
	infoOK := err == nil
	measured := fmt.Sprintf("Docker Engine %s (API %s)", v.Version, v.APIVersion)
	ok, parsed := atLeast(v.Version, 20, 10)
	switch {
	case !parsed:
		return result(id, check.Warn, measured, required,
			"Could not read the engine's version number.", "Check docker version; CARTO needs 20.10 or newer."), info, infoOK
	case !ok:
		return result(id, check.Fail, measured, required,
			"Docker Engine "+v.Version+" is older than 20.10, the oldest CARTO supports.",
			"Upgrade Docker Engine (https://docs.docker.com/engine/install/ubuntu/)."), info, infoOK
	}
	return result(id, check.Pass, measured, required, "The Docker Engine is recent enough.", ""), info, infoOK
}

func checkCompose(ctx context.Context, deps Deps) check.Result {
	const id, required = "preflight.compose", "docker-compose 1.29 or newer, or the docker compose plugin"
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	tool, err := compose.Detect(ctx, deps.LookPath, deps.Run)
	switch {
	case errors.Is(err, compose.ErrTooOld):
		return result(id, check.Fail, tool.String(), required,
			"docker-compose "+tool.Version.Raw+" is older than 1.29, the oldest CARTO supports.",
			"Install the docker compose plugin (sudo apt-get install docker-compose-plugin from Docker's repository) or a newer docker-compose.")
	case errors.Is(err, compose.ErrNotFound):
		r := result(id, check.Fail, "not installed", required,
			"Neither docker-compose nor the docker compose plugin is installed.",
			"Install the docker compose plugin: sudo apt-get install docker-compose-plugin (from Docker's apt repository).")
		r.Fixed = true
		return r
	case err != nil:
		return result(id, check.Error, "version not readable", required,
			"Found Docker Compose but could not read its version.", "Run docker-compose --version (or docker compose version) and check that it works.")
	}
	return result(id, check.Pass, tool.String(), required, "Docker Compose is installed.", "")
}

// dockerSocket returns the unix socket path named by DOCKER_HOST, or ""
// when the engine is reached another way (tcp://, ssh://).
func dockerSocket(dockerHost string) string {
	if dockerHost == "" {
		return "/var/run/docker.sock"
	}
	u, err := url.Parse(dockerHost)
	if err != nil || u.Scheme != "unix" {
		return ""
	}
	return u.Path
}

const usermodHint = "Add your user to the docker group: sudo usermod -aG docker $USER, then log out and back in (or run newgrp docker) and start carto-setup again. carto-setup never needs root."

// describeSocketError turns an error from reaching the engine into a
// measured value and a hint, without quoting the raw error. The moby
// client wraps the dial error, so errors.Is sees the errno.
func describeSocketError(err error) (measured, hint string) {
	switch {
	case errors.Is(err, syscall.EACCES) || errors.Is(err, os.ErrPermission):
		return "permission denied on the Docker socket", usermodHint
	case errors.Is(err, syscall.ENOENT):
		return "no Docker socket", "Install Docker Engine 20.10 or newer and start it: sudo systemctl enable --now docker."
	case errors.Is(err, syscall.ECONNREFUSED):
		return "the Docker daemon is not running", "Start Docker: sudo systemctl start docker."
	case errors.Is(err, context.DeadlineExceeded):
		return "no answer from the Docker daemon", "Check the daemon's health: sudo systemctl status docker."
	}
	return "not reachable", "Check that Docker is installed and running (sudo systemctl status docker) and that DOCKER_HOST, if set, is right."
}

func checkSocket(ctx context.Context, deps Deps) check.Result {
	const id, required = "preflight.docker_socket", "the current user can use the Docker socket"
	path := dockerSocket(deps.DockerHost)
	if path == "" {
		return result(id, check.Pass, "engine at "+deps.DockerHost, required,
			"The engine is reached over the network (DOCKER_HOST), so there is no local socket to check.", "")
	}
	ctx, cancel := context.WithTimeout(ctx, engineTimeout)
	defer cancel()
	conn, err := deps.Dial(ctx, "unix", path)
	if err != nil {
		measured, hint := describeSocketError(err)
		r := result(id, check.Fail, measured+" ("+path+")", required,
			"carto-setup cannot use the Docker socket as this user.", hint)
		r.Fixed = true
		return r
	}
	conn.Close()
	return result(id, check.Pass, "connected to "+path, required, "The current user can use the Docker socket.", "")
}
