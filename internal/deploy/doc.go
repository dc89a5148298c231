// Package deploy installs CARTO Self-Hosted from the wizard's answers: it
// computes a Plan of every file the install writes (customer.env merged
// with the file on disk and a record of the last install, so that hand
// edits survive and conflicts are shown; key.json, certs/, and .env exactly
// as install.sh would generate it), applies it atomically with owner-only
// permissions plus read access for exactly the users the services' images
// run as, runs Docker Compose under a pinned project name, restarts the
// services whose mounted files changed, and follows the stack on a Board
// until every service reaches its expected state or one fails. It never
// runs install.sh or the docker CLI, and never puts a secret in an error, a
// log line, a report or a diff.
package deploy
