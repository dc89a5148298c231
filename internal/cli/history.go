package cli

import (
	"flag"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/carto-setup/carto-setup/internal/history"
	"github.com/carto-setup/carto-setup/internal/upgradeflow"
)

// HistoryUsage documents `carto-setup history`.
const HistoryUsage = `  carto-setup history [--json] [--state-dir DIR]
        every install, upgrade and restore, newest first: when, what, the
        release and package, the result, the database backup; --json prints
        {"entries": [{"id", "time", "action", "release", "package_version",
        "result", "files": {path: sha256}}]}
`

// History is `carto-setup history [--json]`.
func History(env Env, args []string) error {
	var asJSON bool
	cfg, rest, err := parse("carto-setup history", HistoryUsage, args, env.Getenv, env.Stderr, func(fs *flag.FlagSet) {
		fs.BoolVar(&asJSON, "json", false, "print the history as JSON")
	})
	if err != nil {
		return err
	}
	if err := noArgs("carto-setup history", rest, env.Stderr); err != nil {
		return err
	}
	h, err := upgradeflow.OpenHistory(cfg.StateDir, env.Now)
	if err != nil {
		return err
	}
	entries, err := h.List()
	if err != nil {
		return err
	}
	if asJSON {
		b, err := history.JSON(entries)
		if err != nil {
			return err
		}
		_, err = env.Stdout.Write(b)
		return err
	}
	return printHistory(env.Stdout, entries)
}

// printHistory prints the entries as a table.
func printHistory(w io.Writer, entries []history.Entry) error {
	if len(entries) == 0 {
		_, err := fmt.Fprintln(w, "No install, upgrade or restore is recorded yet.")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tTIME\tACTION\tFROM\tRELEASE\tPACKAGE\tRESULT\tFILES\tBACKUP")
	for _, e := range entries {
		from := e.FromRelease
		if e.RestoredFrom > 0 {
			from = fmt.Sprintf("entry %d", e.RestoredFrom)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s (%s)\t%s\t%s\t%s\t%s\t%d\t%s\n", e.ID, e.Time.Local().Format(time.DateTime), e.Action, e.Origin,
			cell(from), cell(e.Release), cell(e.PackageVersion), e.Result, len(e.Files), cell(backupCell(e.Backup)))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintln(w, "\ncarto-setup restore ID puts back an entry's files (the database is never restored for you).")
	return err
}

func backupCell(b *history.Backup) string {
	switch {
	case b == nil:
		return ""
	case b.SnapshotReason != "":
		return "snapshot: " + b.SnapshotReason
	}
	return b.Path
}
