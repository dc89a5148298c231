// Command standinmain runs standin.Main, so that tests can build a static
// stand-in executable before the carto-setup binary has its hidden
// "standin" subcommand wired in.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/carto-setup/carto-setup/internal/demo/standin"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	args := os.Args[1:]
	// The stand-in image's entrypoint is "/carto-setup standin", as it is for
	// the product binary; accept the subcommand word here too.
	if len(args) > 0 && args[0] == "standin" {
		args = args[1:]
	}
	code := standin.Main(ctx, args, os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
