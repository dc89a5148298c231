// Package logstore keeps the log lines and markers of a Compose project's
// services on disk, one bounded timeline per service, so that they outlive
// container generations, restarts of the wizard and upgrades. A timeline is
// a directory of size-capped segments written by one process (the wizard)
// and readable at the same time by others (the logs command); every record
// carries a checksum, so a torn last record after a crash is ignored and
// cut off, and every text is masked before it is written. It does not
// follow Docker: internal/logstream does, and writes here through History.
package logstore
