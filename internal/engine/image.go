package engine

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/registry"
	"github.com/moby/moby/client"
)

// ErrImageNotFound is wrapped by InspectImage when the daemon has no image
// under the reference.
var ErrImageNotFound = errors.New("no such image")

// ImageInfo is what the daemon knows about a local image.
type ImageInfo struct {
	ID          string   // "sha256:<hex>" of the image config; identical content has the same ID
	RepoTags    []string // "repo:tag" names that point at it
	RepoDigests []string // "repo@sha256:<hex>" manifests it was pulled or pushed as
	Size        int64    // bytes of all its layers, uncompressed
	User        string   // Config.User; "" means root
	Created     time.Time
}

// InspectImage returns what the daemon knows about the image ref. An
// absent image gives an error wrapping ErrImageNotFound.
func (c *Client) InspectImage(ctx context.Context, ref string) (ImageInfo, error) {
	res, err := c.api.ImageInspect(ctx, ref)
	if cerrdefs.IsNotFound(err) {
		return ImageInfo{}, fmt.Errorf("engine: inspect image %s: %w", ref, ErrImageNotFound)
	}
	if err != nil {
		return ImageInfo{}, fmt.Errorf("engine: inspect image %s: %w", ref, err)
	}
	info := ImageInfo{ID: res.ID, RepoTags: res.RepoTags, RepoDigests: res.RepoDigests, Size: res.Size}
	info.Created, _ = time.Parse(time.RFC3339Nano, res.Created)
	if res.Config != nil {
		info.User = res.Config.User
	}
	return info, nil
}

// RegistryAuth is a credential the daemon presents to a registry for one
// pull. Username and Password are a login (for gcr.io: "_json_key" and the
// service-account key); IdentityToken and RegistryToken are the token
// forms Docker's credential helpers hand out.
type RegistryAuth struct {
	Username, Password string
	IdentityToken      string
	RegistryToken      string
	ServerAddress      string
}

// encode gives the X-Registry-Auth header value: the JSON form, base64url.
func (a RegistryAuth) encode() (string, error) {
	b, err := json.Marshal(registry.AuthConfig{
		Username: a.Username, Password: a.Password, IdentityToken: a.IdentityToken,
		RegistryToken: a.RegistryToken, ServerAddress: a.ServerAddress,
	})
	if err != nil {
		return "", err
	}
	return base64.URLEncoding.EncodeToString(b), nil
}

// PullEvent is one progress message of a pull, decoded.
type PullEvent struct {
	Image string // the reference being pulled
	// Layer is the short id (12 hex digits of the compressed blob's digest)
	// of the layer the message is about; "" for messages about the image.
	Layer string
	// Status is the daemon's word for the step: "Pulling fs layer",
	// "Waiting", "Downloading", "Verifying Checksum", "Download complete",
	// "Extracting", "Pull complete", "Already exists", "Retrying in 5
	// seconds"; or, for the image, "Pulling from ...", "Digest: ...",
	// "Status: ...".
	Status string
	// Current and Total are bytes of the step (downloaded or extracted so
	// far, of the layer's size); zero when the message carries none.
	Current, Total int64
}

// PullError is a pull the daemon refused or failed, with its own message,
// which names the cause (unreachable registry, unknown manifest, denied,
// no space left on device).
type PullError struct {
	Image   string
	Message string
}

func (e *PullError) Error() string {
	return "engine: pull " + e.Image + ": " + e.Message
}

// PullImage asks the daemon to pull ref (for the daemon's own platform),
// presenting auth to the registry when it is not nil, and calls onEvent
// (when not nil) for every progress message as it arrives. It returns when
// the pull has finished: nil, a *PullError carrying the daemon's message,
// or ctx's error. Ending ctx closes the request, which makes the daemon
// cancel the pull; layers already complete stay in its store, so the next
// pull of the same image fetches only the rest.
func (c *Client) PullImage(ctx context.Context, ref string, auth *RegistryAuth, onEvent func(PullEvent)) error {
	var opts client.ImagePullOptions
	if auth != nil {
		enc, err := auth.encode()
		if err != nil {
			return fmt.Errorf("engine: pull %s: encode credentials: %w", ref, err)
		}
		opts.RegistryAuth = enc
	}
	res, err := c.api.ImagePull(ctx, ref, opts)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("engine: pull %s: %w", ref, ctx.Err())
		}
		return &PullError{Image: ref, Message: daemonMessage(err)}
	}
	defer res.Close()
	for m, err := range res.JSONMessages(ctx) {
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("engine: pull %s: %w", ref, ctx.Err())
			}
			return &PullError{Image: ref, Message: "reading the daemon's progress: " + err.Error()}
		}
		if m.Error != nil {
			return &PullError{Image: ref, Message: strings.TrimSpace(m.Error.Message)}
		}
		if onEvent == nil {
			continue
		}
		ev := PullEvent{Image: ref, Status: m.Status}
		// Image-level messages carry the tag (or nothing) as their id;
		// layer messages carry the short digest.
		if isShortID(m.ID) {
			ev.Layer = m.ID
		}
		if m.Progress != nil {
			ev.Current, ev.Total = m.Progress.Current, m.Progress.Total
		}
		onEvent(ev)
	}
	return nil
}

// isShortID reports whether id looks like the daemon's truncated layer id:
// 12 lower-case hex digits. A tag such as "2026.8.11" never does.
func isShortID(id string) bool {
	if len(id) != 12 {
		return false
	}
	for _, r := range id {
		if (r < '0' || r > '9') && (r < 'a' || r > 'f') {
			return false
		}
	}
	return true
}

// daemonMessage strips the client library's wrapping from a daemon error,
// leaving the daemon's own text.
func daemonMessage(err error) string {
	s := err.Error()
	s = strings.TrimPrefix(s, "Error response from daemon: ")
	return strings.TrimSpace(s)
}

// SaveImages streams the images refs (with every layer they need, each
// once) in the daemon's `docker save` tar format. The caller closes the
// stream; closing it early, or ending ctx, stops the export.
func (c *Client) SaveImages(ctx context.Context, refs []string) (io.ReadCloser, error) {
	if len(refs) == 0 {
		return nil, errors.New("engine: save: no image given")
	}
	rc, err := c.api.ImageSave(ctx, refs)
	if err != nil {
		return nil, fmt.Errorf("engine: save %s: %w", strings.Join(refs, ", "), err)
	}
	return rc, nil
}

// LoadImages imports a `docker save` tar stream into the daemon, calling
// onLine (when not nil) with every progress line, and returns the
// references the daemon reports loaded ("Loaded image: repo:tag"). A
// truncated or invalid stream makes the daemon fail the load; its message
// is returned.
func (c *Client) LoadImages(ctx context.Context, r io.Reader, onLine func(string)) ([]string, error) {
	res, err := c.api.ImageLoad(ctx, r, client.ImageLoadWithQuiet(true))
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("engine: load: %w", ctx.Err())
		}
		return nil, fmt.Errorf("engine: load: %s", daemonMessage(err))
	}
	defer res.Close()
	var loaded []string
	dec := json.NewDecoder(res)
	for {
		var m struct {
			Stream      string `json:"stream"`
			Status      string `json:"status"`
			ErrorDetail *struct {
				Message string `json:"message"`
			} `json:"errorDetail"`
			Error string `json:"error"`
		}
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return loaded, nil
			}
			if ctx.Err() != nil {
				return loaded, fmt.Errorf("engine: load: %w", ctx.Err())
			}
			return loaded, fmt.Errorf("engine: load: reading the daemon's answer: %w", err)
		}
		if m.ErrorDetail != nil && m.ErrorDetail.Message != "" {
			return loaded, fmt.Errorf("engine: load: %s", strings.TrimSpace(m.ErrorDetail.Message))
		}
		if m.Error != "" {
			return loaded, fmt.Errorf("engine: load: %s", strings.TrimSpace(m.Error))
		}
		line := strings.TrimSpace(m.Stream + m.Status)
		if line == "" {
			continue
		}
		if name, ok := strings.CutPrefix(line, "Loaded image: "); ok {
			loaded = append(loaded, name)
		} else if id, ok := strings.CutPrefix(line, "Loaded image ID: "); ok {
			loaded = append(loaded, id)
		}
		if onLine != nil {
			onLine(line)
		}
	}
}

// TagImage gives the local image source the additional name target.
func (c *Client) TagImage(ctx context.Context, source, target string) error {
	if _, err := c.api.ImageTag(ctx, client.ImageTagOptions{Source: source, Target: target}); err != nil {
		return fmt.Errorf("engine: tag %s as %s: %w", source, target, err)
	}
	return nil
}

// ImageTags lists the "repo:tag" names the engine has for the repository
// repo (e.g. "carto-setup-port80"), sorted.
func (c *Client) ImageTags(ctx context.Context, repo string) ([]string, error) {
	res, err := c.api.ImageList(ctx, client.ImageListOptions{Filters: make(client.Filters).Add("reference", repo)})
	if err != nil {
		return nil, fmt.Errorf("engine: list images of %s: %w", repo, err)
	}
	var tags []string
	for _, im := range res.Items {
		for _, t := range im.RepoTags {
			if strings.HasPrefix(t, repo+":") {
				tags = append(tags, t)
			}
		}
	}
	slices.Sort(tags)
	return tags, nil
}

// RemoveUnusedImage removes the name ref, and the image once no name is
// left, unless a container (running or not) uses it; it reports whether it
// removed it. An absent image is not an error.
func (c *Client) RemoveUnusedImage(ctx context.Context, ref string) (bool, error) {
	_, err := c.api.ImageRemove(ctx, ref, client.ImageRemoveOptions{PruneChildren: true})
	switch {
	case err == nil:
		return true, nil
	case cerrdefs.IsNotFound(err):
		return false, nil
	case cerrdefs.IsConflict(err):
		return false, nil
	}
	return false, fmt.Errorf("engine: remove image %s: %w", ref, err)
}
