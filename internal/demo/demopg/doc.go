// Package demopg runs the demo's throwaway PostgreSQL from the host's
// PostgreSQL programs: one cluster under the demo state directory, with a
// generated admin password kept beside it, listening on the Docker bridge
// gateway so the stand-in's containers reach it, and admitting only that
// address and the Compose project's subnets. A second start reuses the
// cluster. It is for --demo only: it must never be offered for a real
// install, and it never touches a cluster it did not create.
package demopg
