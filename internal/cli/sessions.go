package cli

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/carto-setup/carto-setup/internal/auth"
)

// SessionsUsage documents `carto-setup sessions`.
const SessionsUsage = `  carto-setup sessions [--end-all | --end ID] [--json] [--dir DIR] [--state-dir DIR]
        list the browsers signed in to the wizard, or end one (--end ID) or
        all of them (--end-all; the token stays valid), also in a running wizard
`

// sessionsOutput is the JSON shape of `carto-setup sessions --json`.
type sessionsOutput struct {
	Sessions []auth.SessionInfo `json:"sessions"`
	// Ended is how many sessions --end-all or --end ended.
	Ended *int `json:"ended,omitempty"`
}

// Sessions is `carto-setup sessions`: the live sessions of the wizard's
// state directory, read from disk, so a running wizard's sessions are
// listed and ended too (it refuses an ended session's cookie from its next
// request on).
func Sessions(env Env, args []string) error {
	var endAll, asJSON bool
	var endID string
	cfg, rest, err := parse("carto-setup sessions", SessionsUsage, args, env.Getenv, env.Stderr, func(fs *flag.FlagSet) {
		fs.BoolVar(&endAll, "end-all", false, "end every session (the token stays valid)")
		fs.StringVar(&endID, "end", "", "end the session with this `ID`, as the list shows it")
		fs.BoolVar(&asJSON, "json", false, "print JSON")
	})
	if err != nil {
		return err
	}
	if err := noArgs("carto-setup sessions", rest, env.Stderr); err != nil {
		return err
	}
	if endAll && endID != "" {
		fmt.Fprintln(env.Stderr, "carto-setup sessions: give --end-all or --end ID, not both")
		return ExitInvalid
	}
	a, err := auth.OpenExisting(cfg.StateDir, env.Now)
	if errors.Is(err, auth.ErrNoWizard) {
		if endID != "" {
			fmt.Fprintf(env.Stderr, "carto-setup sessions: no session %s: the wizard has not run in %s\n", endID, cfg.StateDir)
			return ExitFailed
		}
		return printSessions(env.Stdout, asJSON, nil, nil, endAll)
	}
	if err != nil {
		return err
	}
	var ended *int
	switch {
	case endAll:
		n, err := a.EndAll()
		if err != nil {
			return err
		}
		ended = &n
	case endID != "":
		err := a.EndSession(endID)
		if errors.Is(err, auth.ErrNoSession) {
			fmt.Fprintf(env.Stderr, "carto-setup sessions: no live session has the ID %s; `carto-setup sessions` lists them\n", endID)
			return ExitFailed
		}
		if err != nil {
			fmt.Fprintf(env.Stderr, "carto-setup sessions: %v\n", err)
			return ExitInvalid
		}
		one := 1
		ended = &one
	}
	list, err := a.Sessions()
	if err != nil {
		return err
	}
	return printSessions(env.Stdout, asJSON, list, ended, endAll)
}

// printSessions prints what is left after any ending, with the count ended.
func printSessions(w io.Writer, asJSON bool, list []auth.SessionInfo, ended *int, endAll bool) error {
	if endAll && ended == nil {
		zero := 0
		ended = &zero
	}
	if asJSON {
		if list == nil {
			list = []auth.SessionInfo{}
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(sessionsOutput{Sessions: list, Ended: ended})
	}
	if ended != nil {
		fmt.Fprintf(w, "Ended %d session(s); a running wizard refuses their cookies from the next request on.\n", *ended)
	}
	if len(list) == 0 {
		_, err := fmt.Fprintln(w, "No browser is signed in.")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSIGNED IN\tEXPIRES\tFROM")
	for _, s := range list {
		from := s.Remote
		if from == "" {
			from = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", s.ID, s.Created.Local().Format(time.DateTime), s.Expires.Local().Format(time.DateTime), from)
	}
	return tw.Flush()
}
