package app

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/carto-setup/carto-setup/internal/acmeissue"
	"github.com/carto-setup/carto-setup/internal/buckets"
	"github.com/carto-setup/carto-setup/internal/cachecheck"
	"github.com/carto-setup/carto-setup/internal/check"
	"github.com/carto-setup/carto-setup/internal/cli"
	"github.com/carto-setup/carto-setup/internal/config"
	"github.com/carto-setup/carto-setup/internal/dbcheck"
	"github.com/carto-setup/carto-setup/internal/hostid"
	"github.com/carto-setup/carto-setup/internal/preflight"
	"github.com/carto-setup/carto-setup/internal/proxycheck"
	"github.com/carto-setup/carto-setup/internal/steps"
)

// wire builds, once per command, everything the steps and the install
// need for cfg: the live set (port 80, nonces, ACME, the domain checker)
// and the check packages behind the steps' interfaces. With --demo it
// first prepares the stand-in release and points cfg at it.
func wire(ctx context.Context, cfg config.Config, getenv func(string) string, log *slog.Logger, now func() time.Time, o cli.WireOptions) (*cli.Wiring, error) {
	if cfg.Demo {
		if err := prepareDemo(&cfg, o.Output); err != nil {
			return nil, err
		}
		if cfg.StandinBinary == "" {
			exe, err := os.Executable()
			if err != nil {
				return nil, fmt.Errorf("demo: %w", err)
			}
			cfg.StandinBinary = exe
		}
		demoImages(cfg.StandinBinary, o.Output)
	}
	lo := liveOptions{challengesOnly: o.ChallengesOnly}
	if o.ChallengesOnly {
		lo.idle = acmeissue.DefaultTimeout
	}
	lv, err := newLive(cfg, log, now, lo)
	if err != nil {
		return nil, err
	}
	lv.domain.RouterHoldsPort80 = routerHoldsPort80(cfg.Dir, cfg.Project)
	w := &cli.Wiring{
		Config: cfg,
		Steps: steps.Deps{
			ReleaseDir: cfg.Dir, Now: now, Log: log,
			Preflight: steps.PreflightFunc(func(ctx context.Context, pc preflight.Config) []check.Result {
				return preflight.Run(ctx, preflight.DefaultDeps(getenv), pc)
			}),
			Domain:   lv.domain,
			Database: steps.DatabaseFunc(dbcheck.Run),
			Cache:    steps.CacheFunc(cachecheck.Run),
			Buckets:  steps.BucketsFunc(buckets.Run),
			Registry: registryChecker(getenv, cfg.StandinBinary),
			ACME:     lv.acme, ACMEDirectory: cfg.ACMEDirectory, ACMETimeout: 3 * time.Minute,
			Advanced: steps.AdvancedFunc(func(ctx context.Context, c proxycheck.Config) []check.Result {
				return proxycheck.Run(ctx, proxycheck.DefaultDeps(), c)
			}),
			Demo: cfg.Demo, Containers: containerNetwork(cfg.Project),
		},
		ProbeBinary: cfg.StandinBinary,
		Address:     "127.0.0.1",
		Resolver:    lv.domain.Resolver,
		ClosePort80: lv.port80.Close,
		Close:       lv.Close,
	}
	if w.ProbeBinary == "" {
		w.ProbeBinary, _ = os.Executable()
	}
	if ips := hostid.Local().IPs; len(ips) > 0 {
		w.Address = ips[0].String()
	}
	w.Images = imagesConfig(cfg, getenv)
	if cfg.Demo {
		// Without Docker there is nothing to serve; the wizard still
		// starts (preflight names the engine) and builds the images
		// locally once Docker is back.
		if reg, err := startDemoRegistry(ctx, cfg.Dir, cfg.StateDir, cfg.StandinBinary, o.Output); err != nil {
			fmt.Fprintf(o.Output, "Demo mode: no in-process registry, the stand-in images will be built locally: %v\n", err)
		} else {
			w.Images.Prepare = reg.waitPrepare(w.Images.Prepare)
			w.Steps.Registry = reg.waitCheck(w.Steps.Registry)
			w.Close = func() { reg.close(); lv.Close() }
		}
	}
	if cfg.Demo {
		w.StopDemo = demoStopper(cfg, o.Output)
	}
	return w, nil
}
