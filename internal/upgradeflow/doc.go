// Package upgradeflow runs what an admin does with an installed release
// after the first install: it tells which release is installed and which
// is checked out, upgrades in an order the admin can trust (plan,
// preflight again, a verified database backup, apply, smoke test), and
// puts back the files of a history entry. The wizard's Upgrade and History
// pages and the upgrade, history and restore commands all go through it.
// It holds the state directory's lock while it writes, and it never
// restores a database: across releases it says how, and with what backup.
package upgradeflow
