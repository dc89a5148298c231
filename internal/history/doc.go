// Package history records every install, upgrade and restore in the state
// directory: when, what (release, git commit, package version), how it was
// started, its result, the hash of every file it left, and copies of the
// files it replaced and of the files it wrote (customer.env, key.json, .env,
// certs/), so that any of the last ten can be restored byte for byte. It
// writes only into its own directory, owner-only and atomically, except
// when it restores an entry's files into the release directory; it never
// runs Compose or touches a database.
package history
