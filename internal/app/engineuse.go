package app

import (
	"context"
	"os"
	"path/filepath"
	"strings"

	"github.com/carto-setup/carto-setup/internal/dbcheck"
	"github.com/carto-setup/carto-setup/internal/deploy"
	"github.com/carto-setup/carto-setup/internal/engine"
	"github.com/carto-setup/carto-setup/internal/envfile"
)

// containerNetwork says where the Compose project's containers connect
// from, for the database step's pg_hba.conf hint: the project's subnets,
// or the pools Docker will carve them from before the first install. An
// unreachable engine leaves the hint without them.
func containerNetwork(project string) func(ctx context.Context) dbcheck.ContainerNetwork {
	return func(ctx context.Context) dbcheck.ContainerNetwork {
		eng, err := engine.New(ctx)
		if err != nil {
			return dbcheck.ContainerNetwork{}
		}
		defer eng.Close()
		pn, err := eng.ProjectSubnets(ctx, project)
		if err != nil {
			return dbcheck.ContainerNetwork{}
		}
		n := dbcheck.ContainerNetwork{Subnets: pn.Subnets, Exist: pn.Exist}
		if len(pn.Networks) > 0 {
			n.Network = pn.Networks[0]
		}
		return n
	}
}

// routerHoldsPort80 reports whether CARTO's router publishes port 80 of
// this VM: router-http of the project runs and the installed .env
// publishes its HTTP port on 80 (the default).
func routerHoldsPort80(releaseDir, project string) func(ctx context.Context) bool {
	return func(ctx context.Context) bool {
		b, err := os.ReadFile(filepath.Join(releaseDir, deploy.DotEnvFile))
		if err != nil {
			return false
		}
		f, err := envfile.Parse(b)
		if err != nil {
			return false
		}
		if port, _ := f.Get("ROUTER_HTTP_PORT"); strings.TrimSpace(port) != "" && strings.TrimSpace(port) != "80" {
			return false
		}
		eng, err := engine.New(ctx)
		if err != nil {
			return false
		}
		defer eng.Close()
		list, err := eng.ProjectContainers(ctx, project)
		if err != nil {
			return false
		}
		for _, c := range list {
			if c.Service == "router-http" && c.Running {
				return true
			}
		}
		return false
	}
}
