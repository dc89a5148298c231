package upgradeflow

import (
	"context"
	"slices"

	"github.com/carto-setup/carto-setup/internal/deploy"
	"github.com/carto-setup/carto-setup/internal/engine"
	"github.com/carto-setup/carto-setup/internal/upgrade"
)

// containerIDs lists the project's containers by service.
func containerIDs(ctx context.Context, eng *engine.Client, project string) (map[string][]string, error) {
	list, err := eng.ProjectContainers(ctx, project)
	if err != nil {
		return nil, err
	}
	out := map[string][]string{}
	for _, c := range list {
		out[c.Service] = append(out[c.Service], c.ID)
	}
	return out, nil
}

// serviceRows is the upgrade's board: each service of the plan with its
// image before and after, where its container is by the install board,
// and whether its container is not one that ran before the upgrade.
// after is the project's containers once the apply ended (nil while it
// runs). It also returns workspace-migrations' exit code once it exited.
func serviceRows(plan upgrade.Plan, exp []deploy.Expectation, scales map[string]int, before, after map[string][]string) ([]ServiceRow, *int) {
	var rows []ServiceRow
	var migrations *int
	for _, sc := range plan.Services {
		row := ServiceRow{Service: sc.Service, Previous: sc.Previous, Change: string(sc.Change), OldImage: sc.OldImage, NewImage: sc.NewImage}
		if sc.Change == upgrade.Removed {
			row.Service = sc.Previous
			row.State = "removed"
			if after != nil && len(after[sc.Previous]) > 0 {
				row.State, row.Status = "still has a container", "failed"
			} else if after != nil {
				row.Status = "ok"
			}
			rows = append(rows, row)
			continue
		}
		if n, ok := scales[sc.Service]; ok && n == 0 {
			row.State, row.Status = "not run (scaled to 0)", "ok"
			rows = append(rows, row)
			continue
		}
		i := slices.IndexFunc(exp, func(e deploy.Expectation) bool { return e.Service == sc.Service })
		if i < 0 {
			row.State, row.Status = "not created yet", "pending"
			rows = append(rows, row)
			continue
		}
		e := exp[i]
		row.State, row.Status, row.Reason = e.Status.State, string(e.Verdict), e.Reason
		if row.State == "" {
			row.State = "not created yet"
		}
		if e.Status.Exited {
			code := e.Status.ExitCode
			row.ExitCode = &code
			if sc.Service == deploy.MigrationsService {
				migrations = &code
			}
		}
		if id := e.Status.ID; id != "" {
			old := before[sc.Service]
			if sc.Previous != "" {
				old = append(slices.Clone(old), before[sc.Previous]...)
			}
			row.Recreated = !slices.Contains(old, id)
		}
		rows = append(rows, row)
	}
	return rows, migrations
}
