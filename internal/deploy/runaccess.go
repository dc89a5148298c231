package deploy

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/carto-setup/carto-setup/internal/engine"
	"github.com/carto-setup/carto-setup/internal/fileaccess"
)

// ImageUsers tells which user an image runs as; *engine.Client has it.
type ImageUsers interface {
	ImageUser(ctx context.Context, ref string) (engine.ImageUser, bool, error)
}

// Restarter restarts a container; *engine.Client has it.
type Restarter interface {
	StopContainer(ctx context.Context, id string, grace time.Duration) error
	StartContainer(ctx context.Context, id string) error
}

// imageUsers returns deps.Users, or Docker when it can tell image users.
func (d Deps) imageUsers() ImageUsers {
	if d.Users != nil {
		return d.Users
	}
	u, _ := d.Docker.(ImageUsers)
	return u
}

// restarter returns deps.Restarter, or Docker when it can restart.
func (d Deps) restarter() Restarter {
	if d.Restarter != nil {
		return d.Restarter
	}
	r, _ := d.Docker.(Restarter)
	return r
}

// ServiceUsers reads, from its image, the user of every service that reads
// a file of the plan: ApplyWith's Users. Run calls it before anything is
// written; a caller that applies a plan itself (and then runs Compose)
// needs it too. An image the engine does not have yet (not pulled) is
// logged through logf (nil: not logged): its service's files stay
// owner-only and the service fails loudly if it runs as another user than
// root.
func ServiceUsers(ctx context.Context, users ImageUsers, p Plan, logf func(string, ...any)) (map[string]fileaccess.User, error) {
	if logf == nil {
		logf = func(string, ...any) {}
	}
	var readers []string
	for _, f := range p.files {
		for _, s := range f.readers {
			if !slices.Contains(readers, s) {
				readers = append(readers, s)
			}
		}
	}
	out := map[string]fileaccess.User{}
	if len(readers) == 0 {
		return out, nil
	}
	if users == nil {
		logf("Warning: no way to read the services' image users; the files in %s stay readable by their owner only.", CertsDir)
		return out, nil
	}
	for _, s := range readers {
		ref := p.images[s]
		if ref == "" {
			logf("Warning: %s has no image in %s; its files stay owner-only.", s, "docker-compose.yml")
			continue
		}
		u, present, err := users.ImageUser(ctx, ref)
		if err != nil {
			return nil, &Error{Step: "permissions", Message: "Could not read which user the image of " + s + " runs as: " + sentence(err),
				Hint: "Check that Docker is running and that the image " + ref + " is intact.", Err: err}
		}
		if !present {
			logf("Warning: the image %s of %s is not on this host yet, so carto-setup cannot tell which user must read its files; they stay owner-only.", ref, s)
			continue
		}
		out[s] = fileaccess.User{UID: u.UID, GID: u.GID}
	}
	return out, nil
}

// logAccess says who may read each file, for the job log.
func logAccess(p Plan, users map[string]fileaccess.User, logf func(string, ...any)) {
	for _, f := range p.files {
		if len(f.readers) == 0 {
			continue
		}
		var who []string
		for _, s := range f.readers {
			if u, ok := users[s]; ok {
				who = append(who, fmt.Sprintf("%s (uid %d)", s, u.UID))
			}
		}
		if len(who) > 0 {
			logf("  %s: readable by %s", f.rel, strings.Join(who, ", "))
		}
	}
}

// applyError turns Apply's refusals into an install error.
func applyError(err error) error {
	var ce *ConflictError
	switch {
	case errors.As(err, &ce):
		return &Error{Step: "apply", Message: sentence(errors.New(strings.TrimPrefix(ce.Error(), "deploy: "))),
			Hint: "Resolve each conflict on the Review page (keep your value or take the wizard's), then install again. Nothing was written.", Err: err}
	case errors.Is(err, ErrChangedSinceReview):
		return &Error{Step: "apply", Message: "A file of the release directory changed after the plan was made, so it was not overwritten.",
			Hint: "Review the plan again: the change will be merged or shown as a conflict. Nothing was written.", Err: err}
	}
	return &Error{Step: "apply", Message: "The configuration files could not be written: " + err.Error(),
		Hint: "Check that carto-setup's user owns the release directory and that the disk is not full.", Err: err}
}

// restartChanged restarts the running containers of the services whose
// mounted files the install changed, when Compose left them running: it
// recreates a container when its configuration changes, never when only a
// bind-mounted file's content does. A container started after since was
// (re)created by this install and reads the new files already.
func restartChanged(ctx context.Context, deps Deps, p Plan, project string, since time.Time, logf func(string, ...any)) error {
	restarts := p.report.Restarts
	if len(restarts) == 0 {
		return nil
	}
	r := deps.restarter()
	if r == nil {
		logf("Warning: no way to restart containers; restart %s by hand to use the new files.", restartNames(restarts))
		return nil
	}
	list, err := deps.Docker.ProjectContainers(ctx, project)
	if err != nil {
		return &Error{Step: "restart", Message: "Could not list the containers to restart.", Hint: "Check that Docker is running.", Err: err}
	}
	for _, rs := range restarts {
		for _, c := range list {
			if c.Service != rs.Service {
				continue
			}
			info, err := deps.Docker.InspectContainer(ctx, c.ID)
			if err != nil || info.State != StateRunning || !info.StartedAt.Before(since) {
				continue
			}
			logf("Restarting %s: %s changed, and Compose does not restart a service for a mounted file.", rs.Service, strings.Join(rs.Files, ", "))
			if err := r.StopContainer(ctx, c.ID, 10*time.Second); err != nil {
				return &Error{Step: "restart", Message: "Could not stop " + c.Name + " to restart it.", Hint: "Restart it by hand: it still uses the old files.", Err: err}
			}
			if err := r.StartContainer(ctx, c.ID); err != nil {
				return &Error{Step: "restart", Message: "Could not start " + c.Name + " again.", Hint: "Start it by hand (docker start " + c.Name + ").", Err: err}
			}
		}
	}
	return nil
}

func restartNames(rs []Restart) string {
	var names []string
	for _, r := range rs {
		names = append(names, r.Service)
	}
	return strings.Join(names, ", ")
}
