package cli

import (
	"fmt"
	"io"
	"net"
	"path/filepath"

	"github.com/carto-setup/carto-setup/internal/auth"
	"github.com/carto-setup/carto-setup/internal/hostid"
)

// TokenUsage documents `carto-setup token`.
const TokenUsage = `  carto-setup token [--dir DIR] [--state-dir DIR]
        print new sign-in URLs with a new token; ends every session and lifts
        every sign-in lockout, also in a running wizard
`

// Token replaces the token, which ends every session and lifts every
// address's sign-in lockout, including those of a wizard that is already
// running (its throttle watches the token's generation).
func Token(env Env, args []string) error {
	cfg, rest, err := parse("carto-setup token", TokenUsage, args, env.Getenv, env.Stderr, nil)
	if err != nil {
		return err
	}
	if err := noArgs("carto-setup token", rest, env.Stderr); err != nil {
		return err
	}
	if err := cfg.EnsureStateDir(); err != nil {
		return err
	}
	a, _, err := auth.Open(cfg.StateDir, env.Now)
	if err != nil {
		return err
	}
	tok, err := a.NewToken()
	if err != nil {
		return err
	}
	addr, err := net.ResolveTCPAddr("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("--listen: %w", err)
	}
	fmt.Fprintln(env.Stdout, "New token issued; every earlier session has ended and sign-in lockouts are lifted.")
	PrintSignIn(env.Stdout, hostid.Local().SignInURLs(addr, tok), cfg.StateDir)
	return nil
}

// PrintSignIn prints the sign-in URLs and where the token file is.
func PrintSignIn(w io.Writer, urls []string, stateDir string) {
	fmt.Fprintln(w, "Sign in by opening one of these URLs in your browser:")
	for _, u := range urls {
		fmt.Fprintln(w, "  "+u)
	}
	fmt.Fprintf(w, "The token is also in %s (readable only by you).\n", filepath.Join(stateDir, auth.TokenFile))
}
