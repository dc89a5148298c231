// Package app is the composition root: Run dispatches the command line to
// the wizard (serve) or a headless command (internal/cli), and wire builds
// each dependency once for them: the port-80 / nonce / ACME / domain set
// and the check packages behind the steps' interfaces. It holds no step
// logic and builds no view model. Tests start the whole program in-process
// through Run with their own arguments, environment and clock.
package app
