// Package migrations brings a wizard state file written by an older
// carto-setup to the format this one writes: numbered migrations, embedded
// from state/, each a list of operations on the file's JSON, applied in
// order at start by the wizard's store. A file from a newer carto-setup is
// refused, never rewritten. It works on raw JSON and imports nothing of
// the wizard, so the wizard can import it; it reads and writes no file.
package migrations
