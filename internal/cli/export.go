package cli

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/carto-setup/carto-setup/internal/answers"
	"github.com/carto-setup/carto-setup/internal/k8sexport"
	"github.com/carto-setup/carto-setup/internal/wizard"
)

// ExportUsage documents `carto-setup export`.
const ExportUsage = `  carto-setup export helm --answers FILE -o DIR [--secret-refs] [--force]
  carto-setup export kots --answers FILE -o FILE [--force]
        export the answers for CARTO's Kubernetes deployment: Helm values
        (customizations.yaml, customizations.secrets.yaml, REPORT.md) or KOTS
        ConfigValues, with what does not carry over (export --help says more)
`

// exportSections are the answers the export maps; the cache may be left
// out (the embedded one).
var exportSections = []answers.Section{answers.SectionDomain, answers.SectionDatabase, answers.SectionTLS, answers.SectionBuckets}

// Export is `carto-setup export helm|kots`: the answers file mapped to
// CARTO's Kubernetes flavours by package k8sexport, checked before anything
// is written (YAML that reads back, secrets only in the owner-only files).
// Nothing is written when a file exists and differs, unless --force.
func Export(env Env, args []string) error {
	if slices.ContainsFunc(args, func(a string) bool { return a == "-h" || a == "--help" || a == "-help" }) {
		fmt.Fprint(env.Stdout, k8sexport.Usage)
		return ErrHelp
	}
	cmd, err := k8sexport.ParseCommand(args, env.Stderr)
	if err != nil {
		fmt.Fprintf(env.Stderr, "carto-setup export: %s\n\n%s", strings.TrimPrefix(err.Error(), "usage: "), k8sexport.Usage)
		return ExitInvalid
	}
	_, res, err := loadAnswers(cmd.Answers, env.Getenv, exportSections, answers.SectionCache)
	if err != nil {
		return invalid(env.Stderr, cmd.Answers, err)
	}
	st := exportState(res)
	out, err := k8sexport.Export(st, k8sexport.FromWizard(st.Advanced), k8sexport.Options{SecretRefs: cmd.SecretRefs})
	if err != nil {
		fmt.Fprintf(env.Stderr, "carto-setup export %s: nothing was written: %v\n", strings.ToLower(string(cmd.Flavour)), err)
		return ExitFailed
	}
	wo := k8sexport.WriteOptions{Overwrite: cmd.Force, Now: env.Now}
	if cmd.Flavour == k8sexport.FlavourKOTS {
		err = out.WriteKOTS(cmd.Out, wo)
	} else {
		err = out.WriteHelm(cmd.Out, wo)
	}
	if errors.Is(err, k8sexport.ErrExists) {
		fmt.Fprintf(env.Stderr, "carto-setup export: nothing was written: %v; pass --force to replace it (the old file is kept as a .bak copy)\n", err)
		return ExitFailed
	}
	if err != nil {
		return err
	}
	lost := out.LossLines(cmd.Flavour)
	if cmd.Flavour == k8sexport.FlavourKOTS {
		fmt.Fprintf(env.Stdout, "Wrote %s (KOTS ConfigValues, owner-only: it holds the secrets).\n", cmd.Out)
		if len(lost) > 0 {
			fmt.Fprintf(env.Stderr, "%d answer(s) do not carry over to KOTS as they are:\n", len(lost))
			for _, l := range lost {
				fmt.Fprintln(env.Stderr, "  "+strings.ReplaceAll(l, "\n", "\n    "))
			}
		}
		return nil
	}
	fmt.Fprintf(env.Stdout, "Wrote %s, %s (owner-only) and %s in %s.\n", k8sexport.ValuesFile, k8sexport.SecretsFile, k8sexport.ReportFile, cmd.Out)
	if cmd.SecretRefs {
		fmt.Fprintf(env.Stdout, "The secret values are in %s; %s lists the kubectl commands that create the Secrets.\n",
			filepath.Join(cmd.Out, "secrets"), k8sexport.ReportFile)
	}
	if len(lost) > 0 {
		fmt.Fprintf(env.Stdout, "%d answer(s) do not carry over to Helm as they are: see %s.\n", len(lost), filepath.Join(cmd.Out, k8sexport.ReportFile))
	}
	return nil
}

// exportState is the wizard state the answers describe, as the steps would
// save it, without running their live checks: the export maps answers, it
// does not test them.
func exportState(res answers.Resolved) wizard.State {
	var st wizard.State
	if res.Domain != nil {
		st.Domain.Domain = res.Domain.Name()
	}
	if res.Database != nil {
		st.Database = *res.Database
	}
	if res.Cache != nil {
		st.Cache = *res.Cache
	}
	if t := res.TLS; t != nil {
		chain := t.CertPEM
		if t.ChainPEM != "" {
			chain = strings.TrimRight(chain, "\n") + "\n" + t.ChainPEM
		}
		st.TLS = wizard.TLSInput{Mode: t.Mode, CertPEM: chain, KeyPEM: t.KeyPEM, ACMEEmail: t.ACMEEmail, ACMEDirectory: t.ACMEDirectory}
	}
	if res.Buckets != nil {
		st.Buckets = res.Buckets.BucketsInput
	}
	return st
}
