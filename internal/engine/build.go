package engine

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"
)

// BuildFile is one file of an in-memory build context.
type BuildFile struct {
	Data []byte
	Mode int64 // permission bits, e.g. 0o755 for an executable; 0 means 0o644
}

// BuildImage builds an image tagged tag with the classic builder from a
// build context made of files (paths relative to the context root) and the
// Dockerfile text dockerfile. The text of the daemon's progress messages is
// copied to progress as it arrives (nil discards it). A failed step returns
// an error that carries the daemon's own error message.
func (c *Client) BuildImage(ctx context.Context, tag string, files map[string]BuildFile, dockerfile string, progress io.Writer) error {
	if progress == nil {
		progress = io.Discard
	}
	if _, ok := files["Dockerfile"]; ok {
		return fmt.Errorf("engine: build %s: the context already has a file named Dockerfile", tag)
	}
	buildContext, err := tarContext(files, dockerfile)
	if err != nil {
		return fmt.Errorf("engine: build %s: %w", tag, err)
	}
	res, err := c.api.ImageBuild(ctx, bytes.NewReader(buildContext), client.ImageBuildOptions{
		Tags:        []string{tag},
		Dockerfile:  "Dockerfile",
		Remove:      true,
		ForceRemove: true,
	})
	if err != nil {
		return fmt.Errorf("engine: build %s: %w", tag, err)
	}
	defer res.Body.Close()
	if err := copyBuildMessages(res.Body, progress); err != nil {
		return fmt.Errorf("engine: build %s: %w", tag, err)
	}
	return nil
}

// tarContext writes files and the Dockerfile into a tar archive, in sorted
// order so that the same input gives the same bytes (and a cache hit).
func tarContext(files map[string]BuildFile, dockerfile string) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	// A fixed time keeps the archive, and so the build cache, reproducible.
	mtime := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	add := func(name string, data []byte, mode int64) error {
		if mode == 0 {
			mode = 0o644
		}
		hdr := &tar.Header{Name: name, Mode: mode, Size: int64(len(data)), ModTime: mtime, Typeflag: tar.TypeReg}
		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("tar %s: %w", name, err)
		}
		if _, err := tw.Write(data); err != nil {
			return fmt.Errorf("tar %s: %w", name, err)
		}
		return nil
	}
	if err := add("Dockerfile", []byte(dockerfile), 0o644); err != nil {
		return nil, err
	}
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if err := add(name, files[name].Data, files[name].Mode); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("tar: %w", err)
	}
	return buf.Bytes(), nil
}

// buildMessage is the part of one JSON message of the build stream that
// matters here.
type buildMessage struct {
	Stream      string `json:"stream"`
	Status      string `json:"status"`
	Error       string `json:"error"`
	ErrorDetail *struct {
		Message string `json:"message"`
	} `json:"errorDetail"`
}

// copyBuildMessages decodes the daemon's stream of JSON messages, writes
// their text to w and returns the first error message the daemon sent.
func copyBuildMessages(r io.Reader, w io.Writer) error {
	dec := json.NewDecoder(r)
	for {
		var m buildMessage
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("read progress: %w", err)
		}
		if m.ErrorDetail != nil && m.ErrorDetail.Message != "" {
			return fmt.Errorf("daemon: %s", strings.TrimSpace(m.ErrorDetail.Message))
		}
		if m.Error != "" {
			return fmt.Errorf("daemon: %s", strings.TrimSpace(m.Error))
		}
		text := m.Stream
		if text == "" && m.Status != "" {
			text = m.Status + "\n"
		}
		if text != "" {
			if _, err := io.WriteString(w, text); err != nil {
				return fmt.Errorf("write progress: %w", err)
			}
		}
	}
}

// ImageExists reports whether the daemon has an image with this reference.
func (c *Client) ImageExists(ctx context.Context, ref string) (bool, error) {
	_, err := c.api.ImageInspect(ctx, ref)
	if err == nil {
		return true, nil
	}
	if cerrdefs.IsNotFound(err) {
		return false, nil
	}
	return false, fmt.Errorf("engine: inspect image %s: %w", ref, err)
}

// RemoveImage removes the image reference ref (and the image once no
// reference is left), forcing it even if stopped containers use it. An image
// that does not exist is not an error.
func (c *Client) RemoveImage(ctx context.Context, ref string) error {
	_, err := c.api.ImageRemove(ctx, ref, client.ImageRemoveOptions{Force: true, PruneChildren: true})
	if err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("engine: remove image %s: %w", ref, err)
	}
	return nil
}
