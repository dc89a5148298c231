package deploy

import (
	"github.com/carto-setup/carto-setup/internal/logstream"
	"github.com/carto-setup/carto-setup/internal/redact"
)

// ProjectLogs is the wizard's one follower of the Compose project
// (*logstream.ProjectFollower), as an install or an upgrade uses it: it
// watches the containers for the board, copies their lines into the job's
// own log view, marks where the install or upgrade began in every
// service's timeline, and masks with the plan's secrets from then on. With
// it, a job opens no daemon stream of its own.
type ProjectLogs interface {
	Watch(fn func(logstream.StateChange)) (stop func())
	Tee(h *logstream.Hub) (stop func())
	// Mark adds a marker of the whole project: kind is
	// logstream.MarkInstall or logstream.MarkUpgrade.
	Mark(kind, text string)
	SetMasker(m *redact.Redactor)
}

// startText is the text of the marker a run adds where it begins.
func startText(kind, version string) string {
	what := "install"
	if kind == logstream.MarkUpgrade {
		what = "upgrade"
	}
	if version == "" {
		return what + " started"
	}
	return what + " of CARTO " + version + " started"
}
