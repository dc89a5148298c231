// Package standin is a test double of CARTO Self-Hosted: one small program
// that plays any service of the Docker Compose release (router-http,
// workspace-migrations, the APIs, the web apps, the workers) well enough for
// carto-setup's tests and --demo mode to deploy, watch and smoke-test it. Each
// service reads the same .env variables the real one reads and fails loudly
// when one is missing or wrong. It is not part of the wizard and must never be
// imported by the wizard's own packages, except to build the --demo images.
package standin
