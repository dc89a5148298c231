// Package compose finds Docker Compose on the host (the standalone
// docker-compose, 1.29 or newer, or the docker compose plugin) and runs it
// against a CARTO release directory with a pinned project name. When up
// fails, it classifies the output into an *UpError with a message safe to
// show and a hint. It does not read container status: that comes from the
// Engine API through package engine.
package compose
