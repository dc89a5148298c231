// Package statelock makes installs exclusive across processes: whichever
// carto-setup process writes the release's files or runs Compose (the
// wizard's install, apply, upgrade, renew, restore) holds an flock on a file
// in the state directory and records who it is, so another one can say who
// holds the lock and since when, and wait or refuse. The kernel drops the
// lock when its holder dies, so a holder record left behind by a killed
// process is recognised as stale. It does not decide what to do about a
// busy lock or about Compose processes a dead holder left running.
package statelock
