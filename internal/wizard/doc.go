// Package wizard holds the wizard's steps, their order, and the state the
// admin has entered so far, kept in a JSON file in the state directory that
// is written atomically. It is pure Go apart from the file store: no HTTP, no
// checks against the outside world; those live in the server and in the
// check packages.
package wizard
