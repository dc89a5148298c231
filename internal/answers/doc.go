// Package answers reads and writes the headless answers file (product.md,
// "Headless mode"): a YAML file with version 1 that says what the wizard's
// steps would have collected, every secret given as a *_file path or a
// *_env variable name, never inline. Parse checks a file strictly and names
// the field of every problem; Resolve reads the secrets and files into a
// wizard.State; Export writes a state back as a file whose secrets live in
// 0600 files of the state directory. It runs no live check and never prints
// a secret.
package answers
