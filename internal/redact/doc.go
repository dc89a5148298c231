// Package redact is carto-setup's one masker of secrets. A Redactor hides
// every registered secret by exact value (with the JSON, URL and per-line
// forms it takes in files and logs), the value of every key whose name
// looks secret (SecretName, the one key-name rule), and every PEM private
// key; the live logs, the job log, the review diff and the support bundle
// all use it. It never decides what is registered (the wizard's registry
// and the env files do) and never masks an image reference by name.
package redact
