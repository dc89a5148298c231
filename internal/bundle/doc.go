// Package bundle builds the support bundle: a .tar.gz of the files an
// admin sends to support (wizard state, customer.env and .env, container
// status and logs, check results), every file masked by the one redactor
// (internal/redact: exact values, secret-looking key names, PEM private
// keys), with a manifest and a redaction report that says what was masked
// where without the values.
// It works on data handed to it; collecting that data from Docker and the
// disk is the caller's job.
package bundle
