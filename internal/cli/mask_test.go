package cli

import (
	"bytes"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/carto-setup/carto-setup/internal/redact"
	"github.com/carto-setup/carto-setup/internal/wizard"
)

// TestConsoleLoggerMasks: a command's console logger masks the answers'
// secrets from the start and the state's once it watches the state file,
// including a secret saved after it was made; it keeps the level.
func TestConsoleLoggerMasks(t *testing.T) {
	const fromAnswers, fromState = "answers-Secret-0123", "state-Secret-4567"
	path := filepath.Join(t.TempDir(), "state.json")
	var out bytes.Buffer
	log, secrets := consoleLogger(Env{Stderr: &out}, slog.LevelWarn, redact.Secret{What: "the database admin password", Value: fromAnswers})
	secrets.Watch(path)
	store := wizard.NewFileStore(path, time.Now)
	if _, err := store.Update(func(s *wizard.State) error { s.Database.AdminPassword = fromState; return nil }); err != nil {
		t.Fatal(err)
	}
	log.Info("not shown at warn level", "password", fromState)
	log.Warn("database check failed", "err", "password authentication failed for "+fromAnswers+" and "+fromState)
	got := out.String()
	if strings.Contains(got, fromAnswers) || strings.Contains(got, fromState) || strings.Contains(got, "not shown") {
		t.Fatalf("console: %s", got)
	}
	if !strings.Contains(got, "database check failed") || !strings.Contains(got, redact.Mask) {
		t.Fatalf("the warning is not there, masked: %s", got)
	}
}
