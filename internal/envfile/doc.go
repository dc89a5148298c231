// Package envfile reads and edits customer.env-style files without losing a
// byte: it parses with the rules Docker Compose v2 (compose-go's dotenv) uses,
// keeps the original bytes, and changes only the assignment it is asked to
// change. Values it writes read back the same under Compose v2, Compose v1
// (python-dotenv) and bash `source`; values that cannot are refused. It does
// no file I/O and knows nothing about which keys CARTO or the wizard own.
package envfile
