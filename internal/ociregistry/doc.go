// Package ociregistry runs an OCI registry in-process (go-containerregistry's
// pkg/registry) on a loopback address, which the Docker Engine reaches over
// plain HTTP by default, optionally behind a login and a download rate, and
// pushes images from the Docker Engine into it. --demo serves the stand-in
// images from it so that a demo install pulls for real; the tests' helper
// (registrytest) wraps it. It is not a registry for production use: its
// manifests live in memory and it never listens beyond loopback.
package ociregistry
