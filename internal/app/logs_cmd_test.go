package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/carto-setup/carto-setup/internal/app"
	"github.com/carto-setup/carto-setup/internal/logstore"
	"github.com/carto-setup/carto-setup/internal/logstream"
)

// seedAt is when the seeded lines were written: an hour and a minute ago.
var seedAt = time.Now().UTC().Add(-61 * time.Minute).Truncate(time.Millisecond)

// seedLogs writes a log store as the wizard's project follower leaves it:
// two services, the second container of api after a recreation, an install
// marker, and lines written within the last hour and before it. The store
// stays open (as while the wizard runs) until the test ends.
func seedLogs(t *testing.T, dir string) *logstore.Store {
	t.Helper()
	st, err := logstore.Open(logstore.Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	at := func(min int) time.Time { return seedAt.Add(time.Duration(min) * time.Minute) }
	add := func(id string, l logstream.Line) { st.Append(id, l, nil) }
	add("a1", logstream.Line{Container: "p-api-1", Service: "api", Stream: logstream.Stdout, TS: at(0), Text: "INFO api listening on :8080"})
	add("", logstream.Line{Container: logstream.ProjectService, Service: logstream.ProjectService, Stream: logstream.Marker,
		Marker: logstream.MarkInstall, TS: at(1), Text: "install of CARTO 2026.8.11 started"})
	add("d1", logstream.Line{Container: "p-db-1", Service: "db", Stream: logstream.Stderr, TS: at(2), Text: "FATAL password authentication failed"})
	add("a2", logstream.Line{Container: "p-api-1", Service: "api", Stream: logstream.Marker, Marker: logstream.MarkRecreated, TS: at(30),
		Text: "p-api-1 recreated: container a2 replaces a1"})
	add("a2", logstream.Line{Container: "p-api-1", Service: "api", Stream: logstream.Stdout, TS: at(31), Text: "INFO api listening on :8080 again"})
	add("d1", logstream.Line{Container: "p-db-1", Service: "db", Stream: logstream.Stdout, TS: at(60), Text: "LOG: checkpoint complete"})
	if err := st.Flush(); err != nil {
		t.Fatal(err)
	}
	return st
}

// TestLogsCommand reads the kept logs through app.Run as an admin types
// the command, while the store is open for writing as it is while the
// wizard runs.
func TestLogsCommand(t *testing.T) {
	t.Parallel()
	state := t.TempDir()
	seedLogs(t, filepath.Join(state, "logs"))
	run := func(args ...string) (int, string, string) {
		var stdout, stderr bytes.Buffer
		argv := append(append([]string{"carto-setup", "logs"}, args...), "--dir", t.TempDir(), "--state-dir", state)
		err := app.Run(context.Background(), argv, func(string) string { return "" }, &stdout, &stderr)
		return exitCode(t, err), stdout.String(), stderr.String()
	}
	ts := func(min int) string { return seedAt.Add(time.Duration(min) * time.Minute).Format(logstore.TimeLayout) }

	code, out, errOut := run()
	want := ts(0) + " api | INFO api listening on :8080\n" +
		ts(1) + " carto-setup | ── install of CARTO 2026.8.11 started\n" +
		ts(2) + " db | FATAL password authentication failed\n" +
		ts(30) + " api | ── p-api-1 recreated: container a2 replaces a1\n" +
		ts(31) + " api | INFO api listening on :8080 again\n" +
		ts(60) + " db | LOG: checkpoint complete\n"
	if code != 0 || out != want {
		t.Errorf("logs: exit %d, stderr %q\n%s", code, errOut, cmp.Diff(want, out))
	}

	code, out, _ = run("db", "--since", "59m", "--json")
	if code != 0 {
		t.Fatalf("logs db --since 59m --json: exit %d", code)
	}
	var raw struct {
		Lines []map[string]any `json:"lines"`
	}
	if err := json.Unmarshal([]byte(out), &raw); err != nil || len(raw.Lines) != 1 {
		t.Fatalf("--json: %v, %d lines:\n%s", err, len(raw.Lines), out)
	}
	var keys []string
	for k := range raw.Lines[0] {
		keys = append(keys, k)
	}
	if diff := cmp.Diff([]string{"container", "service", "stream", "text", "time"}, slices.Sorted(slices.Values(keys))); diff != "" {
		t.Errorf("a JSON line's keys (-want +got):\n%s", diff)
	}
	if raw.Lines[0]["text"] != "LOG: checkpoint complete" || raw.Lines[0]["container"] != "p-db-1" || raw.Lines[0]["stream"] != "stdout" {
		t.Errorf("--json line: %v", raw.Lines[0])
	}

	code, out, _ = run("api", "--grep", `again$|started`, "--json")
	var res struct {
		Lines []struct {
			Service, Container, Stream, Text string
			Time                             time.Time
		} `json:"lines"`
	}
	if err := json.Unmarshal([]byte(out), &res); code != 0 || err != nil {
		t.Fatalf("--grep: exit %d, %v:\n%s", code, err, out)
	}
	var got []string
	for i, l := range res.Lines {
		got = append(got, l.Service+" "+l.Stream+" "+l.Text)
		if i > 0 && l.Time.Before(res.Lines[i-1].Time) {
			t.Errorf("--json is not in time order: %v", res.Lines)
		}
	}
	if diff := cmp.Diff([]string{"carto-setup marker install of CARTO 2026.8.11 started", "api stdout INFO api listening on :8080 again"}, got); diff != "" {
		t.Errorf("api --grep (-want +got):\n%s", diff)
	}

	if code, out, _ := run("--grep", "nothing matches this", "--json"); code != 0 || strings.TrimSpace(out) != `{"lines": []}` {
		t.Errorf("no match: exit %d, %q", code, out)
	}
	if code, _, errOut := run("nosuch"); code != 2 || !strings.Contains(errOut, `no service "nosuch"`) || !strings.Contains(errOut, "api, db") {
		t.Errorf("unknown service: exit %d, %q", code, errOut)
	}
	if code, _, errOut := run("--grep", "("); code != 2 || !strings.Contains(errOut, "--grep") {
		t.Errorf("bad regular expression: exit %d, %q", code, errOut)
	}
	if code, _, errOut := run("--since", "yesterday"); code != 2 || !strings.Contains(errOut, "--since") {
		t.Errorf("bad --since: exit %d, %q", code, errOut)
	}
	var stdout, stderr bytes.Buffer
	err := app.Run(context.Background(), []string{"carto-setup", "logs", "--state-dir", t.TempDir() + "/none"}, func(string) string { return "" }, &stdout, &stderr)
	if code := exitCode(t, err); code != 1 || !strings.Contains(stderr.String(), "no logs kept yet") {
		t.Errorf("no store: exit %d, %q", code, stderr.String())
	}
}
