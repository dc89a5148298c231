// Package release writes the stand-in CARTO Self-Hosted release: a directory
// shaped like a carto-selfhosted checkout (docker-compose.yml, env.tpl,
// VERSION, MIN_VERSION, install.sh) whose services all run one locally built
// stand-in image, in two versions that differ as CARTO's releases do (also
// written as a git repository with both release tags), plus sample customer
// packages for tests and --demo. Its files are written here from
// carto-facts.md, never copied from CARTO's unlicensed repository, and it
// must not be used to install real CARTO.
package release
