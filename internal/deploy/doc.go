// Package deploy installs CARTO Self-Hosted from the wizard's answers: it
// computes a Plan of every file the install writes (customer.env edited in
// place, key.json, certs/, and .env exactly as install.sh would generate it),
// applies it atomically with owner-only permissions, runs Docker Compose
// under a pinned project name, and follows the stack on a Board until every
// service reaches its expected state or one fails. It never runs install.sh
// or the docker CLI, and never puts a secret in an error, a log line or a
// diff.
package deploy
