// Package hostid lists every name and address this VM can be reached by:
// the wizard's Host-header allowlist, its own certificate's names, and the
// sign-in URLs printed on the console. It only reads the host's
// interfaces; it never listens or resolves.
package hostid
