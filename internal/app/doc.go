// Package app is the composition root: it parses the command line, opens
// the state directory, builds the server and its dependencies, and runs the
// subcommands. Tests start the whole program in-process through Run with
// their own arguments, environment and clock.
package app
