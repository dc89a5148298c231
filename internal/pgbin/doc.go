// Package pgbin finds the host's PostgreSQL server programs (Debian keeps
// them in /usr/lib/postgresql/<major>/bin, off PATH) and the system user to
// run them as when carto-setup runs as root, which PostgreSQL refuses. It is
// shared by internal/pgtest (test clusters) and internal/demo/demopg (the
// demo's database). It starts nothing and changes nothing.
package pgbin
