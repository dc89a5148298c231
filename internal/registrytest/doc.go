// Package registrytest runs a real OCI registry in-process for tests
// (go-containerregistry's pkg/registry) on 127.0.0.1, which the Docker Engine
// reaches over plain HTTP by default, and pushes locally built images into
// it, so pulls, their progress and their failures are exercised against the
// real daemon. It can require a login, throttle blob downloads and be
// stopped mid-transfer. It is test support: the product must not depend on it.
package registrytest
