// Package wizard holds the wizard's steps, their order, and the state the
// admin has entered so far, kept in a JSON file in the state directory that
// is written atomically (or in memory for a headless run). It is pure Go
// apart from the file store: no HTTP, no checks against the outside world;
// those live in internal/steps and the check packages.
package wizard
