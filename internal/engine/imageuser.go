package engine

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
)

// ImageUser is the user an image's containers run as when nothing
// overrides it: Raw is the image's Config.User as declared ("" means
// root), UID and GID the numbers it resolves to.
type ImageUser struct {
	Raw      string
	UID, GID int
}

// ImageUser reads which user the image ref runs as. A numeric
// Config.User ("101", "1000:1000") is read directly; a user or group name
// ("node", "nginx:nginx") is looked up in the image's own /etc/passwd and
// /etc/group, copied out of a container that is created for the purpose,
// never started, and removed. present is false when the engine does not
// have the image (it has not been pulled or built yet).
func (c *Client) ImageUser(ctx context.Context, ref string) (u ImageUser, present bool, err error) {
	res, err := c.api.ImageInspect(ctx, ref)
	if cerrdefs.IsNotFound(err) {
		return ImageUser{}, false, nil
	}
	if err != nil {
		return ImageUser{}, false, fmt.Errorf("engine: inspect image %s: %w", ref, err)
	}
	if res.Config != nil {
		u.Raw = res.Config.User
	}
	name, group, _ := strings.Cut(u.Raw, ":")
	var passwd, groups []byte
	if (name != "" && !isNumber(name)) || (group != "" && !isNumber(group)) || (name != "" && group == "") {
		// A numeric user without a group takes its group from passwd
		// too, as the runtime does.
		passwd, groups, err = c.userFiles(ctx, ref)
		if err != nil {
			return ImageUser{}, true, err
		}
	}
	uid, gid, err := ResolveUser(u.Raw, passwd, groups)
	if err != nil {
		return ImageUser{}, true, fmt.Errorf("engine: user of image %s: %w", ref, err)
	}
	u.UID, u.GID = uid, gid
	return u, true, nil
}

// ResolveUser turns a Config.User value into numbers the way the container
// runtime does: "" is root; "name" or "uid" takes the group of its passwd
// entry (0 when a numeric uid has none); "user:group" takes the group
// given, by number or from the group file. An unknown name is an error.
func ResolveUser(raw string, passwd, group []byte) (uid, gid int, err error) {
	if raw == "" {
		return 0, 0, nil
	}
	name, grp, hasGroup := strings.Cut(raw, ":")
	uid, gid = -1, 0
	if n, ok := number(name); ok {
		uid = n
		if e, found := lookupEntry(passwd, func(f []string) bool { return f[2] == name }); found {
			gid, _ = strconv.Atoi(e[3])
		}
	} else {
		e, found := lookupEntry(passwd, func(f []string) bool { return f[0] == name })
		if !found {
			return 0, 0, fmt.Errorf("user %q is not in the image's /etc/passwd", name)
		}
		uid, _ = strconv.Atoi(e[2])
		gid, _ = strconv.Atoi(e[3])
	}
	if hasGroup {
		if n, ok := number(grp); ok {
			gid = n
		} else {
			e, found := lookupEntry(group, func(f []string) bool { return f[0] == grp })
			if !found {
				return 0, 0, fmt.Errorf("group %q is not in the image's /etc/group", grp)
			}
			gid, _ = strconv.Atoi(e[2])
		}
	}
	return uid, gid, nil
}

// lookupEntry returns the first colon-separated line of data with at least
// four fields for which match is true.
func lookupEntry(data []byte, match func([]string) bool) ([]string, bool) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		f := strings.Split(strings.TrimSpace(sc.Text()), ":")
		if len(f) >= 4 && match(f) {
			if _, err := strconv.Atoi(f[2]); err != nil {
				continue
			}
			return f, true
		}
	}
	return nil, false
}

func number(s string) (int, bool) {
	n, err := strconv.Atoi(s)
	return n, err == nil && n >= 0
}

func isNumber(s string) bool { _, ok := number(s); return ok }

// userFiles copies /etc/passwd and /etc/group out of the image through a
// container that is never started. A file the image lacks is empty.
func (c *Client) userFiles(ctx context.Context, ref string) (passwd, group []byte, err error) {
	created, err := c.api.ContainerCreate(ctx, client.ContainerCreateOptions{
		// The entrypoint is never run; it is given so that an image
		// without one can still be created.
		Config:     &container.Config{Image: ref, Entrypoint: []string{"/nonexistent"}, Labels: map[string]string{"io.carto-setup.purpose": "read-image-user"}},
		HostConfig: &container.HostConfig{NetworkMode: "none", CapDrop: []string{"ALL"}, ReadonlyRootfs: true},
	})
	if err != nil {
		return nil, nil, fmt.Errorf("engine: read the users of image %s: %w", ref, err)
	}
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 20*time.Second)
		defer cancel()
		c.api.ContainerRemove(rctx, created.ID, client.ContainerRemoveOptions{Force: true})
	}()
	read := func(path string) ([]byte, error) {
		res, err := c.api.CopyFromContainer(ctx, created.ID, client.CopyFromContainerOptions{SourcePath: path})
		if cerrdefs.IsNotFound(err) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("engine: copy %s out of image %s: %w", path, ref, err)
		}
		defer res.Content.Close()
		tr := tar.NewReader(res.Content)
		if _, err := tr.Next(); err != nil {
			return nil, fmt.Errorf("engine: copy %s out of image %s: %w", path, ref, err)
		}
		return io.ReadAll(io.LimitReader(tr, 1<<20))
	}
	if passwd, err = read("/etc/passwd"); err != nil {
		return nil, nil, err
	}
	if group, err = read("/etc/group"); err != nil {
		return nil, nil, err
	}
	return passwd, group, nil
}
