package cli

import (
	"flag"
	"fmt"
)

// VersionUsage documents `carto-setup version`.
const VersionUsage = `  carto-setup version
        print carto-setup's version
`

// Version is `carto-setup version`.
func Version(env Env, args []string) error {
	fs := flag.NewFlagSet("carto-setup version", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	fs.Usage = func() { fmt.Fprintf(fs.Output(), "Usage:\n%s", VersionUsage) }
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return ErrHelp
		}
		return ExitInvalid
	}
	if err := noArgs("carto-setup version", fs.Args(), env.Stderr); err != nil {
		return err
	}
	_, err := fmt.Fprintln(env.Stdout, "carto-setup", env.Version)
	return err
}
