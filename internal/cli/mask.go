package cli

import (
	"log/slog"

	"github.com/carto-setup/carto-setup/internal/answers"
	"github.com/carto-setup/carto-setup/internal/redact"
	"github.com/carto-setup/carto-setup/internal/steps"
	"github.com/carto-setup/carto-setup/internal/wizard"
)

// answersSecrets returns the secrets an answers file brought, before any
// step saved them: what a headless command's console masks from its start.
func answersSecrets(res answers.Resolved) []redact.Secret {
	var st wizard.State
	if p := res.Package; p != nil {
		st.Package.CustomerEnv, st.Package.KeyJSON = string(p.CustomerEnv), string(p.KeyJSON)
	}
	if res.Database != nil {
		st.Database = *res.Database
	}
	if res.Cache != nil {
		st.Cache = *res.Cache
	}
	if res.TLS != nil {
		st.TLS.KeyPEM = res.TLS.KeyPEM
	}
	if res.Buckets != nil {
		st.Buckets = res.Buckets.BucketsInput
	}
	return steps.Secrets(st)
}

// maskedConsole makes env's streams and a logger mask the secrets of the
// answers and of the state file at statePath as it changes: everything a
// headless command prints.
func maskedConsole(env Env, res answers.Resolved, statePath string) (Env, *steps.StateSecrets) {
	secrets := steps.NewStateSecrets(answersSecrets(res)...)
	secrets.Watch(statePath)
	// stdout carries the report (a table or JSON) built from values
	// masked at their source: registered values only, so that a JSON field
	// named like a secret ("secret": true) stays JSON.
	env.Stdout = redact.NewValuesWriter(env.Stdout, secrets.Current)
	env.Stderr = redact.NewMaskingWriter(env.Stderr, secrets.Current)
	return env, secrets
}

// consoleLogger is a command's logger on stderr at level, masking extra
// (an answers file's secrets) and, once Watch is given the state file,
// the state's secrets as it changes: the wired checks and flows log
// their errors through it, and those may quote a secret.
func consoleLogger(env Env, level slog.Level, extra ...redact.Secret) (*slog.Logger, *steps.StateSecrets) {
	secrets := steps.NewStateSecrets(extra...)
	return redact.NewLogger(env.Stderr, &slog.HandlerOptions{Level: level}, secrets.Current), secrets
}
