// Package registrycheck is the preflight group for the release's images:
// the registry answers, every image and tag exists (manifest requests with
// Docker's credentials, no layer downloaded), and Docker's data root has
// room for what must be downloaded. Images already on the engine need none
// of it, so a host with every image present passes offline. It reports
// check.Results and changes nothing: it pulls, writes and deletes nothing.
package registrycheck
