package compose

import (
	"fmt"
	"regexp"
	"strings"
)

// Kind is the class of a Compose failure.
type Kind string

// The failure classes the install step tells apart. Each has its own
// message and hint; KindOther means the output matched nothing known.
const (
	KindDaemonUnreachable   Kind = "daemon-unreachable"
	KindDaemonPermission    Kind = "daemon-permission"
	KindInvalidFile         Kind = "invalid-compose-file"
	KindPortAllocated       Kind = "port-allocated"
	KindPullDenied          Kind = "pull-denied"
	KindImageNotFound       Kind = "image-not-found"
	KindRegistryUnreachable Kind = "registry-unreachable"
	KindOther               Kind = "other"
)

// UpError is a failed Compose run, classified from its output. Message and
// Hint are safe to show: they are built from the class and from the port
// and image names only, never from raw output, which can quote values from
// .env. Line is the output line that decided the class, for the log.
type UpError struct {
	Op    string // "up" or "down"
	Kind  Kind
	Port  string // the host port already in use, for KindPortAllocated
	Image string // the image that could not be pulled, when the output names it
	Line  string
	Err   error // the process error (exit status)
}

// Error describes the failure for logs.
func (e *UpError) Error() string {
	s := fmt.Sprintf("compose: %s: %s", e.Op, e.Kind)
	if e.Line != "" {
		s += ": " + e.Line
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the process error.
func (e *UpError) Unwrap() error { return e.Err }

// Message says in one sentence what went wrong, for the user.
func (e *UpError) Message() string {
	image := "an image"
	if e.Image != "" {
		image = "image " + e.Image
	}
	switch e.Kind {
	case KindDaemonUnreachable:
		return "Docker Compose could not reach the Docker daemon."
	case KindDaemonPermission:
		return "Docker Compose was refused access to the Docker socket."
	case KindInvalidFile:
		return "Docker Compose rejected the release's docker-compose.yml or a variable it takes from .env."
	case KindPortAllocated:
		if e.Port != "" {
			return "Host port " + e.Port + " is already in use, so a CARTO service could not publish it."
		}
		return "A host port CARTO publishes is already in use."
	case KindPullDenied:
		return "The registry refused to let this host pull " + image + " (it does not exist or needs a login)."
	case KindImageNotFound:
		return "Could not find " + image + " in the registry or on this host."
	case KindRegistryUnreachable:
		return "The container registry could not be reached to pull " + image + "."
	}
	return "Docker Compose failed; the last lines of its output say why."
}

// Hint says how to fix the failure.
func (e *UpError) Hint() string {
	switch e.Kind {
	case KindDaemonUnreachable:
		return "Start Docker (sudo systemctl start docker) and check that DOCKER_HOST, if set, points at it."
	case KindDaemonPermission:
		return "Add your user to the docker group with sudo usermod -aG docker $USER, then log out and back in and restart carto-setup."
	case KindInvalidFile:
		return "Use docker-compose.yml, env.tpl and VERSION from the same release tag (git checkout tags/<VERSION>), unedited; the Compose output names the line or key."
	case KindPortAllocated:
		port := "the port"
		if e.Port != "" {
			port = "port " + e.Port
		}
		return "Stop what listens on " + port + " (sudo ss -ltnp shows the process) and run the install again."
	case KindPullDenied, KindImageNotFound:
		return "Check that VERSION names a published CARTO release and that the customer package matches it; if the registry needs a login, run docker login for it."
	case KindRegistryUnreachable:
		return "Allow outbound HTTPS from this VM to gcr.io and storage.googleapis.com (and Docker Hub for the embedded database), or set a proxy for the Docker daemon; the preflight egress checks show what is blocked."
	}
	return "Read the end of the Compose output above; fix the cause and run the install again."
}

// rule maps an output pattern to a class. The first rule with a match
// wins, so the daemon and file problems, which make every later line
// meaningless, come first.
type rule struct {
	kind Kind
	re   *regexp.Regexp
}

var rules = []rule{
	{KindDaemonPermission, regexp.MustCompile(`(?i)permission denied while trying to connect to the docker daemon|fetching server API version: .*PermissionError`)},
	{KindDaemonUnreachable, regexp.MustCompile(`(?i)couldn't connect to docker daemon|cannot connect to the docker daemon|error while fetching server API version|is the docker daemon running`)},
	{KindInvalidFile, regexp.MustCompile(`(?i)the compose file .* is invalid|yaml\.\w+\.\w*Error|^yaml: |validating .*docker-compose\.yml|invalid interpolation format|unsupported config option|version in .* is unsupported|can't find a suitable configuration file|no configuration file provided|FileNotFoundError: .*docker-compose\.yml|docker-compose\.yml: no such file or directory|additional propert(y|ies) .* (is|are) not allowed|has neither an image nor a build context|NullResource: Resource ID was not provided`)},
	{KindPortAllocated, regexp.MustCompile(`(?i)port is already allocated|address already in use`)},
	{KindPullDenied, regexp.MustCompile(`(?i)pull access denied|unauthorized:|denied: requested access|authentication required|403 forbidden`)},
	{KindImageNotFound, regexp.MustCompile(`(?i)manifest unknown|manifest for \S+ not found|no such image|not found: manifest`)},
	{KindRegistryUnreachable, regexp.MustCompile(`(?i)dial tcp|no such host|i/o timeout|tls handshake timeout|client\.timeout exceeded|connection refused|network is unreachable|server misbehaving|x509: `)},
}

var (
	portRE   = regexp.MustCompile(`:(\d+)(?: failed: port is already allocated|: bind: address already in use)`)
	imageRES = []*regexp.Regexp{
		regexp.MustCompile(`(?i)pull access denied for ([^\s,]+)`),
		regexp.MustCompile(`(?i)manifest for (\S+) not found`),
		regexp.MustCompile(`(?i)no such image: (\S+)`),
	}
	// Compose v1 announces each pull as "Pulling web (repo/name:tag)...".
	pullingRE = regexp.MustCompile(`Pulling \S+ \((\S+)\)\.\.\.`)
)

// Classify reads Compose output (v1 or v2, any mix of stdout and stderr)
// and returns the failure class with what it could extract. Op and Err are
// left for the caller.
func Classify(output string) *UpError {
	lines := strings.Split(output, "\n")
	for _, r := range rules {
		for _, line := range lines {
			line = strings.TrimSpace(line)
			if !r.re.MatchString(line) {
				continue
			}
			e := &UpError{Kind: r.kind, Line: line}
			switch r.kind {
			case KindPortAllocated:
				if m := portRE.FindStringSubmatch(line); m != nil {
					e.Port = m[1]
				}
			case KindPullDenied, KindImageNotFound, KindRegistryUnreachable:
				e.Image = imageName(line, output)
			}
			return e
		}
	}
	return &UpError{Kind: KindOther, Line: lastLine(output)}
}

// imageName finds the image a pull failure is about: in the failing line
// itself, or else in the last "Pulling" announcement before it.
func imageName(line, output string) string {
	for _, re := range imageRES {
		if m := re.FindStringSubmatch(line); m != nil {
			return strings.Trim(m[1], `"'`)
		}
	}
	if all := pullingRE.FindAllStringSubmatch(output, -1); len(all) > 0 {
		return all[len(all)-1][1]
	}
	return ""
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}
