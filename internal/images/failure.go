package images

import (
	"errors"
	"fmt"
	"net"
	"strings"
)

// Kind classifies why an image could not be pulled or checked.
type Kind string

// The kinds of failure, each with its own fix.
const (
	// Unreachable: no answer from the registry (DNS, refused, timeout,
	// proxy), or the download stopped advancing and the registry no
	// longer answers.
	Unreachable Kind = "unreachable"
	// NotFound: the registry answers but has no such image or tag.
	NotFound Kind = "not_found"
	// Denied: the registry wants a login, or refuses the one given.
	Denied Kind = "denied"
	// DiskFull: Docker's data root ran out of space.
	DiskFull Kind = "disk_full"
	// TLS: the registry's HTTPS is not what Docker expects (plain HTTP
	// registry, or a certificate Docker does not trust, typically an
	// intercepting proxy).
	TLS Kind = "tls"
	// Stalled: the registry answers but the download stopped advancing.
	Stalled Kind = "stalled"
	// Cancelled: the install was stopped.
	Cancelled Kind = "cancelled"
	// Other: anything else; Detail has the daemon's message.
	Other Kind = "other"
)

// Failure is one image that could not be pulled (or checked): what
// happened and how to fix it, in sentences safe to show, plus the daemon's
// or registry's own message as Detail.
type Failure struct {
	Image   string `json:"image"`
	Kind    Kind   `json:"kind"`
	Message string `json:"message"`
	Hint    string `json:"hint"`
	Detail  string `json:"detail,omitempty"`
}

// Proxy is the proxy a request to a registry goes through, and where that
// setting comes from, for messages.
type Proxy struct {
	URL    string // "" means a direct connection
	Source string // e.g. "the Docker daemon's HTTPS_PROXY"
}

func (p Proxy) describe(who string) string {
	if p.URL == "" {
		return who + " connects directly (no proxy is set for it)."
	}
	return who + " goes through the proxy " + p.URL + " (" + p.Source + ")."
}

// classify names the kind of a daemon's or registry's error message.
func classify(msg string) Kind {
	m := strings.ToLower(msg)
	has := func(subs ...string) bool {
		for _, s := range subs {
			if strings.Contains(m, s) {
				return true
			}
		}
		return false
	}
	switch {
	case has("no space left on device", "disk quota exceeded"):
		return DiskFull
	case has("server gave http response to https client", "x509:", "certificate signed by unknown authority",
		"certificate is not valid", "tls: failed to verify", "certificate has expired"):
		return TLS
	case has("unauthorized", "authentication required", "no basic auth credentials", "access denied",
		"denied:", "requested access to the resource is denied", "forbidden", "status 401", "status 403",
		"incorrect username or password"):
		return Denied
	case has("manifest unknown", "name unknown", "not found: manifest", "manifest for ", "repository does not exist",
		"status 404", "not found"):
		return NotFound
	case has("connection refused", "no such host", "i/o timeout", "network is unreachable", "no route to host",
		"tls handshake timeout", "connection reset", "proxyconnect", "client.timeout exceeded",
		"context deadline exceeded", "server misbehaving", "temporary failure in name resolution", "eof"):
		return Unreachable
	}
	return Other
}

// failureFor builds the Failure of image ref from an error message (the
// daemon's or the registry's), with the fix for its kind. daemonProxy is
// the proxy the daemon pulls through; dataRoot is Docker's data root, for
// a full disk.
func failureFor(ref, detail string, kind Kind, daemonProxy Proxy, dataRoot string) Failure {
	reg := Registry(ref)
	f := Failure{Image: ref, Kind: kind, Detail: detail}
	switch kind {
	case Unreachable:
		f.Message = fmt.Sprintf("Docker could not reach the registry %s for %s.", reg, ref)
		f.Hint = daemonProxy.describe("Docker's connection to "+reg) + " " +
			"Allow HTTPS from this VM to " + reg + " (or set the proxy for the Docker daemon in a systemd drop-in, " +
			"then systemctl restart docker). Without a route to the registry, bring the images on an offline bundle: " +
			"carto-setup images save on a connected machine, then carto-setup images load here."
	case NotFound:
		f.Message = fmt.Sprintf("The registry %s has no image %s: its repository %s has no tag %s.", reg, ref, repoOf(ref), tagOf(ref))
		f.Hint = "The release and the customer package disagree: the release's VERSION (the image tag) and " +
			"docker-compose.yml/env.tpl must come from the same release tag that your customer package allows. " +
			"Check out that tag (git checkout tags/<version>) or ask CARTO support for a matching package."
	case Denied:
		f.Message = fmt.Sprintf("The registry %s refused access to %s.", reg, ref)
		f.Hint = "Log Docker in to " + reg + " as the user carto-setup runs as (docker login " + reg + "), " +
			"with the credentials CARTO support gave you; carto-setup uses the same Docker credentials."
	case DiskFull:
		where := "Docker's data root"
		if dataRoot != "" {
			where += " (" + dataRoot + ")"
		}
		f.Message = fmt.Sprintf("The disk of %s is full; %s could not be stored.", where, ref)
		f.Hint = "Free space there (docker image prune -a removes images no container uses) or grow the disk, then retry."
	case TLS:
		f.Message = fmt.Sprintf("Docker does not trust the HTTPS of the registry %s for %s.", reg, ref)
		f.Hint = "If a proxy inspects TLS, put its CA certificate in /etc/docker/certs.d/" + reg + "/ca.crt; " +
			"if the registry is plain HTTP, add it to insecure-registries in /etc/docker/daemon.json and restart Docker."
	case Stalled:
		f.Message = fmt.Sprintf("The download of %s stopped advancing, although the registry %s answers.", ref, reg)
		f.Hint = daemonProxy.describe("Docker's connection to "+reg) + " " +
			"Check the network's bandwidth and the proxy's limits, then retry: images already pulled are kept."
	case Cancelled:
		f.Message = "The pull of " + ref + " was cancelled."
		f.Hint = "Start the install again: images already pulled are kept."
	default:
		f.Message = fmt.Sprintf("Docker could not pull %s.", ref)
		f.Hint = "Read the detail below; docker pull " + ref + " shows the same error."
	}
	return f
}

// netKind classifies an error of our own HTTP request to a registry.
func netKind(err error) Kind {
	var dnsErr *net.DNSError
	var opErr *net.OpError
	switch {
	case errors.As(err, &dnsErr), errors.As(err, &opErr):
		return Unreachable
	}
	if k := classify(err.Error()); k != Other {
		return k
	}
	return Unreachable
}
