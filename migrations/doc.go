// Package migrations will hold numbered SQL files for data carto-setup keeps
// in a PostgreSQL database once one is configured (the install history and
// the ACME certificate cache). The wizard itself needs no database: its state
// is a file. No migration exists yet, so nothing is embedded.
package migrations
