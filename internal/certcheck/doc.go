// Package certcheck lints the router certificate an admin uploads for the
// CARTO domain: PEM and key problems, SAN coverage, validity, key type,
// extended key usage and the completeness and order of the chain, each as a
// check.Result with a fix hint. When the upload is usable it also returns the
// normalised files nginx needs (leaf first, then intermediates, and the key).
// It does no I/O beyond reading the system roots when no pool is given, and
// it never writes files: the caller stores the output.
package certcheck
