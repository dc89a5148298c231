package cli

import (
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/carto-setup/carto-setup/internal/smoketest"
)

// probeTimeout bounds each request the in-network probe makes.
const probeTimeout = 5 * time.Second

// SmokeProbe is the smoke-probe subcommand, run inside the probe container
// on the Compose network: it asks each URL argument and prints the answers.
func SmokeProbe(ctx context.Context, args []string, stdout io.Writer) error {
	for _, u := range args {
		if !strings.HasPrefix(u, "http://") {
			return fmt.Errorf("smoke-probe: %q is not an http:// URL", u)
		}
		if _, _, err := net.SplitHostPort(strings.SplitN(strings.TrimPrefix(u, "http://"), "/", 2)[0]); err != nil {
			return fmt.Errorf("smoke-probe: %q has no port", u)
		}
	}
	return smoketest.Probe(ctx, args, probeTimeout, stdout)
}
