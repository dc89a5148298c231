// Package gitrepo reads and moves a carto-selfhosted checkout with the git
// binary: its HEAD commit, the release tags git already has (newer than the
// installed one), a file at a tag, and the checkout of a release tag, which
// it refuses while tracked files are modified. It never fetches, commits or
// resets, and it touches no git-ignored file (customer.env, .env, certs/).
package gitrepo
