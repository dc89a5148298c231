// Package steps is the one step engine behind the wizard and the command
// line: for every wizard step it owns the input's defaults, its validation,
// the orchestration of the live checks, the state changes and the override
// rules. internal/server parses forms and renders pages around it;
// internal/cli decodes answers files and prints around it. It declares the
// checker interfaces it needs and never handles HTTP requests or prints.
package steps
