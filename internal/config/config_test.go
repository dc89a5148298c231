package config

import (
	"errors"
	"io"
	"path/filepath"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	env := map[string]string{"CARTO_SETUP_DIR": dir, "CARTO_SETUP_LISTEN": "127.0.0.1:9443"}
	getenv := func(k string) string { return env[k] }

	c, rest, err := Parse("carto-setup x", []string{"--project", "p1", "--expect-timeout", "2m", "tail"}, getenv, io.Discard, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Dir != dir || c.StateDir != filepath.Join(dir, ".carto-setup") || c.Listen != "127.0.0.1:9443" {
		t.Errorf("paths from the environment: %+v", c)
	}
	if c.Project != "p1" || c.Expect != 2*time.Minute || c.HTTPAddr != ":80" || c.ACMEDirectory != LetsEncrypt {
		t.Errorf("flags and defaults: %+v", c)
	}
	if len(rest) != 1 || rest[0] != "tail" {
		t.Errorf("rest %v", rest)
	}

	// A flag beats the environment.
	if c, err := Load([]string{"--listen", ":1"}, getenv); err != nil || c.Listen != ":1" {
		t.Errorf("--listen over CARTO_SETUP_LISTEN: %q %v", c.Listen, err)
	}
	if _, err := Load([]string{"--expect-timeout", "0s"}, getenv); err == nil {
		t.Error("a zero --expect-timeout was accepted")
	}
	if _, err := Load([]string{"extra"}, getenv); err == nil {
		t.Error("an argument was accepted by the wizard")
	}
	if _, _, err := Parse("x", []string{"-h"}, getenv, io.Discard, nil); !errors.Is(err, ErrHelp) {
		t.Errorf("-h: %v", err)
	}
}
