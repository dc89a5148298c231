// Command carto-setup serves the CARTO Self-Hosted setup wizard.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/carto-setup/carto-setup/internal/app"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := app.Run(ctx, os.Args, os.Getenv, os.Stdout, os.Stderr)
	stop()
	var coded interface{ ExitCode() int }
	switch {
	case err == nil:
	case errors.As(err, &coded):
		// The command has already said why on stderr.
		os.Exit(coded.ExitCode())
	default:
		fmt.Fprintln(os.Stderr, "carto-setup:", err)
		os.Exit(1)
	}
}
