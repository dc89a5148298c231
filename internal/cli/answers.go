package cli

import (
	"fmt"
	"os"

	"github.com/carto-setup/carto-setup/internal/answers"
	"github.com/carto-setup/carto-setup/internal/wizard"
)

// AnswersUsage documents `carto-setup answers`.
const AnswersUsage = `  carto-setup answers [--dir DIR] [--state-dir DIR]
        print the wizard's answers as an answers file (secrets as files in the
        state directory)
`

// Answers is `carto-setup answers`: the wizard's current answers as an
// answers file on stdout.
func Answers(env Env, args []string) error {
	cfg, rest, err := parse("carto-setup answers", AnswersUsage, args, env.Getenv, env.Stderr, nil)
	if err != nil {
		return err
	}
	if err := noArgs("carto-setup answers", rest, env.Stderr); err != nil {
		return err
	}
	if _, err := os.Stat(cfg.StatePath()); err != nil {
		return fmt.Errorf("answers: no wizard state in %s: run the wizard (or apply) first", cfg.StateDir)
	}
	if err := cfg.EnsureStateDir(); err != nil {
		return err
	}
	st, err := wizard.NewFileStore(cfg.StatePath(), env.Now).Load()
	if err != nil {
		return err
	}
	out, err := answers.Export(st, cfg.StateDir)
	if err != nil {
		return err
	}
	_, err = env.Stdout.Write(out)
	return err
}
