// Package cli is carto-setup's headless commands: check, apply, answers,
// env, renew, token and version. Each parses its flags, decodes what it is
// given (an answers file, the state directory), calls the same steps and
// install engine as the wizard, and prints a table or JSON with a
// documented exit status. It never imports the web server.
package cli
