package cli

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/carto-setup/carto-setup/internal/logstore"
)

// LogsUsage documents `carto-setup logs`.
const LogsUsage = `  carto-setup logs [SERVICE ...] [--since DURATION] [--grep REGEX] [--json] [--dir DIR] [--state-dir DIR]
        print the services' logs the wizard kept, across restarts and container generations, oldest first
`

// Logs is `carto-setup logs`: it reads the log history the wizard keeps
// in its state directory, whether the wizard runs or not (while it runs,
// it is what follows the containers; what it wrote in the last fraction of
// a second may not show yet). With --json it prints
// {"lines": [{"service", "container", "time", "stream", "text"}]} in time
// order.
func Logs(env Env, args []string) error {
	var since, grep string
	var asJSON bool
	cfg, services, err := parse("carto-setup logs", LogsUsage, args, env.Getenv, env.Stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&since, "since", "", "only lines written in the last DURATION (such as 90m, 6h or 7d)")
		fs.StringVar(&grep, "grep", "", "only lines that match the regular expression REGEX (RE2 syntax; (?i) ignores case)")
		fs.BoolVar(&asJSON, "json", false, `print {"lines": [{"service", "container", "time", "stream", "text"}]}`)
	})
	if err != nil {
		return err
	}
	q := logstore.Query{Services: services, Grep: grep}
	if since != "" {
		d, err := logstore.ParseDuration(since)
		if err != nil {
			fmt.Fprintf(env.Stderr, "carto-setup logs: --since %q is not a duration such as 90m, 6h or 7d\n", since)
			return ExitInvalid
		}
		q.Since = env.Now().Add(-d)
	}
	if _, err := regexp.Compile(grep); err != nil {
		fmt.Fprintf(env.Stderr, "carto-setup logs: --grep: %v\n", err)
		return ExitInvalid
	}
	r, err := logstore.OpenReader(cfg.LogsPath())
	if errors.Is(err, logstore.ErrNoStore) {
		fmt.Fprintf(env.Stderr, "carto-setup logs: no logs kept yet in %s: the wizard keeps them while it runs (carto-setup --state-dir %s)\n", cfg.LogsPath(), cfg.StateDir)
		return ExitFailed
	}
	if err != nil {
		return err
	}
	if len(services) > 0 {
		infos, err := r.Services()
		if err != nil {
			return err
		}
		var kept []string
		for _, in := range infos {
			kept = append(kept, in.Service)
		}
		for _, s := range services {
			if !slices.Contains(kept, s) {
				fmt.Fprintf(env.Stderr, "carto-setup logs: no service %q in the logs kept; they have: %s\n", s, strings.Join(kept, ", "))
				return ExitInvalid
			}
		}
	}
	w := bufio.NewWriterSize(env.Stdout, 64<<10)
	if asJSON {
		err = printJSONLines(w, r, q)
	} else {
		err = r.Scan(q, func(rec logstore.Record) error {
			_, err := w.WriteString(rec.String() + "\n")
			return err
		})
	}
	if ferr := w.Flush(); err == nil {
		err = ferr
	}
	return err
}

// printJSONLines streams the records as {"lines": [...]}, one record a
// line, so that a large history is never held in memory.
func printJSONLines(w *bufio.Writer, r *logstore.Reader, q logstore.Query) error {
	w.WriteString(`{"lines": [`)
	first := true
	err := r.Scan(q, func(rec logstore.Record) error {
		b, err := json.Marshal(rec)
		if err != nil {
			return err
		}
		if !first {
			w.WriteByte(',')
		}
		first = false
		w.WriteString("\n")
		_, err = w.Write(b)
		return err
	})
	if err != nil {
		return err
	}
	if !first {
		w.WriteString("\n")
	}
	_, err = w.WriteString("]}\n")
	return err
}
