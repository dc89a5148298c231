// Package config is how one run of carto-setup is set up: the flags every
// command shares, with CARTO_SETUP_* environment variables as defaults, and
// the rules that span several of them. The result is passed down
// explicitly; nothing here is global, and nothing here starts anything.
package config
