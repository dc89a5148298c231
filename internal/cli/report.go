package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/carto-setup/carto-setup/internal/check"
)

// report prints results as {"checks": [...]} or as a table with the hints
// of what did not pass below it.
func report(w io.Writer, asJSON bool, results []check.Result, reasons map[string]string) error {
	if asJSON {
		if results == nil {
			results = []check.Result{}
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(struct {
			Checks []check.Result `json:"checks"`
		}{results})
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "STATUS\tID\tMEASURED\tREQUIRED\tMESSAGE")
	var notes []string
	counts := map[check.Status]int{}
	overridden := 0
	for _, r := range results {
		counts[r.Status]++
		status := string(r.Status)
		if reason := reasons[r.ID]; reason != "" && !r.Fixed && (r.Status == check.Fail || r.Status == check.Error) {
			status += " (overridden)"
			overridden++
			notes = append(notes, fmt.Sprintf("%s: overridden: %s", r.ID, reason))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", status, r.ID, cell(r.Measured), cell(r.Required), r.Message)
		if r.Status != check.Pass && r.Hint != "" {
			notes = append(notes, fmt.Sprintf("%s: %s", r.ID, r.Hint))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(notes) > 0 {
		fmt.Fprintln(w, "\nHints:")
		for _, n := range notes {
			fmt.Fprintln(w, "  "+n)
		}
	}
	_, err := fmt.Fprintf(w, "\n%d passed, %d warnings, %d failed, %d could not run; %d overridden.\n",
		counts[check.Pass], counts[check.Warn], counts[check.Fail], counts[check.Error], overridden)
	return err
}

func cell(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
