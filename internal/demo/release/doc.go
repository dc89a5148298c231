// Package release writes the stand-in CARTO Self-Hosted release: a directory
// shaped like a carto-selfhosted checkout (docker-compose.yml, env.tpl,
// VERSION, MIN_VERSION, install.sh) whose services all run one locally built
// stand-in image, plus a sample customer package for tests and --demo. Its
// files are written here from carto-facts.md, never copied from CARTO's
// unlicensed repository, and it must not be used to install real CARTO.
package release
