package k8sexport

import (
	"errors"
	"flag"
	"fmt"
	"io"
)

// Usage is the help text of "carto-setup export", for the CLI to print.
const Usage = `Usage:
  carto-setup export helm --answers FILE -o DIR [--secret-refs] [--force]
  carto-setup export kots --answers FILE -o FILE [--force]

Exports the answers for CARTO's Kubernetes flavours, with a report of what
does not carry over.

  helm   writes DIR/customizations.yaml (values that are not secret),
         DIR/customizations.secrets.yaml (secret values) and DIR/REPORT.md
  kots   writes FILE, a KOTS ConfigValues document (owner-only: it holds
         the secrets); what does not carry over is printed on stderr

Flags:
  --answers FILE   the answers file to export
  -o PATH          the output directory (helm) or file (kots)
  --secret-refs    helm only: reference Kubernetes Secrets instead of writing
                   secret values into customizations.secrets.yaml; the values
                   go to DIR/secrets/ and REPORT.md lists the kubectl commands
  --force          replace existing files that differ (each is kept as
                   NAME.bak-TIME); without it nothing is written
`

// Command is a parsed "carto-setup export" command line.
type Command struct {
	Flavour    Flavour // FlavourHelm or FlavourKOTS
	Answers    string
	Out        string
	SecretRefs bool
	Force      bool
}

// ErrUsage is returned, wrapped, for a command line that is not valid; the
// CLI prints Usage and exits 2.
var ErrUsage = errors.New("usage")

// ParseCommand parses the arguments after "export". Flag errors go to
// stderr as the flag package writes them.
func ParseCommand(args []string, stderr io.Writer) (Command, error) {
	if len(args) == 0 {
		return Command{}, fmt.Errorf("%w: export needs helm or kots", ErrUsage)
	}
	var c Command
	switch args[0] {
	case "helm":
		c.Flavour = FlavourHelm
	case "kots":
		c.Flavour = FlavourKOTS
	default:
		return Command{}, fmt.Errorf("%w: export %q: want helm or kots", ErrUsage, args[0])
	}
	fs := flag.NewFlagSet("export "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {}
	fs.StringVar(&c.Answers, "answers", "", "answers file")
	fs.StringVar(&c.Out, "o", "", "output directory (helm) or file (kots)")
	fs.BoolVar(&c.Force, "force", false, "replace existing files")
	if c.Flavour == FlavourHelm {
		fs.BoolVar(&c.SecretRefs, "secret-refs", false, "reference Kubernetes Secrets")
	}
	if err := fs.Parse(args[1:]); err != nil {
		return Command{}, fmt.Errorf("%w: %v", ErrUsage, err)
	}
	switch {
	case fs.NArg() > 0:
		return Command{}, fmt.Errorf("%w: unexpected argument %q", ErrUsage, fs.Arg(0))
	case c.Answers == "":
		return Command{}, fmt.Errorf("%w: --answers is required", ErrUsage)
	case c.Out == "":
		return Command{}, fmt.Errorf("%w: -o is required", ErrUsage)
	}
	return c, nil
}
