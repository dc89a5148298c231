// Package logstream turns Docker's container log streams into masked, numbered
// lines kept in one bounded ring per container, and lets any number of readers
// pull from those rings with their own cursors. It demultiplexes and
// reassembles the daemon's byte stream itself, follows a Compose project's
// containers through their start, stop, restart and recreation (marking each
// in the service's timeline, and resuming from cursors a History keeps), and
// opens exactly one daemon log stream per container however many readers
// there are. It does not speak HTTP or websocket, keeps nothing on disk
// itself, and never calls Docker except through its Docker interfaces.
package logstream
