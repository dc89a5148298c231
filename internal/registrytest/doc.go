// Package registrytest is the tests' handle on an in-process OCI registry
// (package ociregistry, which --demo uses too) on 127.0.0.1, which the
// Docker Engine reaches over plain HTTP by default: started and stopped
// with the test, with helpers to build throwaway images and push them, so
// pulls, their progress and their failures are exercised against the real
// daemon. It is test support: the product must not import it.
package registrytest
