// Package backup takes the metadata database backup before an upgrade with
// PostgreSQL's own tools: pg_dump --format=custom with the admin
// credentials and the stack's TLS settings, run on the host when its
// pg_dump is as new as the server, otherwise inside a container that has
// the tools (the embedded database's own); then proves the file with
// pg_restore --list and a restore into a scratch database that it drops.
// It reports when no dump is possible, and prints the pg_restore command
// that brings a backup back; it never restores the real database itself.
package backup
