// Command relaymain runs relay.Main, so that tests can build a static
// executable with a "relay" subcommand before the carto-setup binary has it
// wired in.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/carto-setup/carto-setup/internal/relay"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	args := os.Args[1:]
	// The port 80 image's entrypoint is "/carto-setup relay", as it is for
	// the product binary; accept the subcommand word here too.
	if len(args) > 0 && args[0] == "relay" {
		args = args[1:]
	}
	code := relay.Main(ctx, args, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
