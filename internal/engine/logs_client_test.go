package engine

import (
	"context"
	"testing"
	"time"

	"github.com/carto-setup/carto-setup/internal/testenv"
)

// TestNewLogClientLive checks that the log client, with its own transport,
// reaches the daemon the environment names and negotiates a version.
func TestNewLogClientLive(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := NewLogClient(ctx)
	if err != nil {
		testenv.Missing(t, "Docker Engine", "install Docker Engine 20.10+ and start it: "+err.Error())
	}
	defer c.Close()
	v, err := c.Version(ctx)
	if err != nil || v.APIVersion == "" {
		t.Fatalf("Version = %+v, %v", v, err)
	}
	if _, err := c.ProjectContainers(ctx, "no-such-project-logclient"); err != nil {
		t.Errorf("ProjectContainers: %v", err)
	}
}
