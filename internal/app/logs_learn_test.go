package app

import (
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/carto-setup/carto-setup/internal/config"
	"github.com/carto-setup/carto-setup/internal/logstore"
	"github.com/carto-setup/carto-setup/internal/logstream"
	"github.com/carto-setup/carto-setup/internal/wizard"
)

// TestLogsLearnSecrets saves a new secret through the store the wizard
// saves its state with: the project's logs mask it from then on, in the
// live view and in the kept history.
func TestLogsLearnSecrets(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := config.Defaults(func(string) string { return "" })
	cfg.Dir, cfg.StateDir = dir, filepath.Join(dir, ".carto-setup")
	store := wizard.NewFileStore(filepath.Join(dir, "state.json"), time.Now)
	logs, states := withLogs(cfg, wizard.State{}, store, slog.New(slog.DiscardHandler))
	if logs == nil {
		t.Fatal("no logs")
	}
	defer logs.Close()
	const pw = "Typed-Later-PW-42"
	logs.Mark(logstream.MarkInstall, "before: "+pw)
	if _, err := states.Update(func(st *wizard.State) error { st.Database.WorkspacePassword = pw; return nil }); err != nil {
		t.Fatal(err)
	}
	logs.Mark(logstream.MarkInstall, "after: "+pw)
	res, err := logs.Query(logstore.Query{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range res.Records {
		got = append(got, r.Text)
	}
	if strings.Join(got, "|") != "before: "+pw+"|after: ****" {
		t.Errorf("kept: %q; want the secret masked once the state has it", got)
	}
	live := logs.Hub().Poll(nil, 10).Lines
	if len(live) != 2 || live[1].Text != "after: ****" {
		t.Errorf("live: %+v", live)
	}
	// A second wizard on the same state directory runs without logs.
	if other, st := withLogs(cfg, wizard.State{}, store, slog.New(slog.DiscardHandler)); other != nil || st != wizard.Store(store) {
		t.Error("a second wizard got the logs another one writes")
	}
}
