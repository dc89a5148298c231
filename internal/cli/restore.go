package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"

	"github.com/carto-setup/carto-setup/internal/history"
	"github.com/carto-setup/carto-setup/internal/upgradeflow"
)

// RestoreUsage documents `carto-setup restore`.
const RestoreUsage = `  carto-setup restore ID [--database-restored] [--json] [--dir DIR] [--state-dir DIR]
        put back the files of history entry ID byte for byte (checking out its
        release tag first when the checkout moved) and run Compose; across
        releases it never touches the database: it names the backup taken
        before the upgrade, prints the pg_restore command and stops the stack
        until --database-restored says the database is back
`

// Restore is `carto-setup restore ID`.
func Restore(ctx context.Context, env Env, args []string) error {
	var asJSON, restored bool
	cfg, rest, err := parse("carto-setup restore", RestoreUsage, args, env.Getenv, env.Stderr, func(fs *flag.FlagSet) {
		fs.BoolVar(&asJSON, "json", false, "print what the restore did as JSON")
		fs.BoolVar(&restored, "database-restored", false, "the database is back as the entry's release had it: start the stack across releases")
	})
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		fmt.Fprintln(env.Stderr, "carto-setup restore: give one history entry ID (carto-setup history lists them)")
		return ExitInvalid
	}
	id, err := strconv.Atoi(rest[0])
	if err != nil || id <= 0 {
		fmt.Fprintf(env.Stderr, "carto-setup restore: %q is not a history entry ID\n", rest[0])
		return ExitInvalid
	}
	if err := cfg.EnsureStateDir(); err != nil {
		return err
	}
	log, secrets := consoleLogger(env, slog.LevelWarn)
	w, err := env.Wire(ctx, cfg, log, WireOptions{Output: env.Stderr})
	if err != nil {
		return err
	}
	defer w.Close()
	cfg = w.Config
	secrets.Watch(cfg.StatePath())
	h, err := upgradeflow.OpenHistory(cfg.StateDir, env.Now)
	if err != nil {
		return err
	}
	flow := upgradeflow.New(upgradeflow.Config{ReleaseDir: cfg.Dir, StateDir: cfg.StateDir, Project: cfg.Project, Expect: cfg.Expect,
		Now: env.Now, Log: log, History: h, Origin: history.CommandLine, Holder: "carto-setup restore"})
	r := flow.Restore(ctx, id, upgradeflow.RestoreOptions{DatabaseRestored: restored}, env.Stderr)
	if asJSON {
		b, err := json.MarshalIndent(r, "", "  ")
		if err != nil {
			return err
		}
		if _, err := env.Stdout.Write(append(b, '\n')); err != nil {
			return err
		}
	} else if err := printRestore(env.Stdout, r); err != nil {
		return err
	}
	if r.Result != upgradeflow.ResultSucceeded {
		return ExitFailed
	}
	return nil
}

// printRestore says what the restore did, the database first when it goes
// back across releases.
func printRestore(w io.Writer, r upgradeflow.RestoreReport) error {
	var b strings.Builder
	fmt.Fprintf(&b, "Restore of entry %d (%s): %s\n", r.ID, cell(r.Release), r.Result)
	if r.Checkout != "" {
		fmt.Fprintf(&b, "Checked out %s first.\n", r.Checkout)
	}
	if len(r.Writes)+len(r.Unchanged)+len(r.Removes) > 0 {
		fmt.Fprintf(&b, "Files: %d restored (%s), %d unchanged, %d removed (%s).\n", len(r.Writes), strings.Join(r.Writes, ", "),
			len(r.Unchanged), len(r.Removes), strings.Join(r.Removes, ", "))
	}
	if d := r.Database; d != nil {
		fmt.Fprintf(&b, "\nThe database is not restored. %s\n", d.Message)
		if d.BackupCheck != "" {
			fmt.Fprintf(&b, "The backup file is %s.\n", d.BackupCheck)
		}
		if d.RestoreCommand != "" {
			fmt.Fprintf(&b, "\nTo put the database back as %s had it, stop the stack first", r.Release)
			if d.StopCommand != "" {
				fmt.Fprintf(&b, ":\n  %s\nthen run (it asks for the admin password)", d.StopCommand)
			}
			fmt.Fprintf(&b, ":\n  %s\n", d.RestoreCommand)
		}
	}
	fmt.Fprintf(&b, "\n%s\n", r.Message)
	_, err := io.WriteString(w, b.String())
	return err
}
