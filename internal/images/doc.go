// Package images is the pull phase of an install: it lists every image the
// release's compose file names (resolved with the generated .env, as
// Compose resolves it), skips those the Docker Engine already has, and pulls
// the others through the Engine API with a per-image progress model (layers,
// bytes, rate, time left) and failures named with their fix. It reads the
// release and talks to the engine and the registry; it writes no file and
// never runs the docker CLI.
package images
