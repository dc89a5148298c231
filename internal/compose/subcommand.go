package compose

import "strings"

// Subcommand returns the Compose subcommand p runs ("up", "logs", ...),
// or "" when none can be told.
func (p Process) Subcommand() string {
	rest, ok := composeArgs(p.Args)
	if !ok {
		return ""
	}
	for i := 0; i < len(rest); i++ {
		a := rest[i]
		switch {
		case valueFlags[a] || a == "-p" || a == "--project-name":
			i++ // its value
		case !strings.HasPrefix(a, "-"):
			return a
		}
	}
	return ""
}

// readOnly are the subcommands that only look at a project: an admin's
// `docker-compose logs -f` in another terminal is not a leftover install.
var readOnly = map[string]bool{
	"logs": true, "ps": true, "top": true, "events": true, "config": true, "images": true,
	"port": true, "version": true, "ls": true, "help": true, "convert": true,
}

// Changes reports whether p changes the project (up, down, start,
// restart, ...) rather than only looking at it. A process whose subcommand
// cannot be told is taken to change it.
func (p Process) Changes() bool {
	return !readOnly[p.Subcommand()]
}
