package cli

import (
	"context"
	"io"
	"testing"
)

func TestSmokeProbeRefusesOddURLs(t *testing.T) {
	for _, u := range []string{"https://workspace-api:3000/health", "http://workspace-api/health", "file:///etc/passwd"} {
		if err := SmokeProbe(context.Background(), []string{u}, io.Discard); err == nil {
			t.Errorf("smoke-probe accepted %q", u)
		}
	}
}
