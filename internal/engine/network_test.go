package engine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/netip"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/carto-setup/carto-setup/internal/testenv"
)

// TestProjectSubnetsLive asks the real daemon about a project that has no
// network yet (the default pools), then about one whose network Compose
// would have made (labelled) and one found by its <project>_default name.
func TestProjectSubnetsLive(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	eng, err := New(ctx)
	if err != nil {
		testenv.Missing(t, "Docker Engine", "install Docker Engine 20.10+ and start it: "+err.Error())
	}
	t.Cleanup(func() { eng.Close() })
	docker := testenv.LookPath(t, "docker", "apt-get install docker.io")
	suffix := make([]byte, 4)
	rand.Read(suffix)
	project := "enginenet" + hex.EncodeToString(suffix)

	pn, err := eng.ProjectSubnets(ctx, project)
	if err != nil {
		t.Fatal(err)
	}
	if pn.Exist || len(pn.Subnets) == 0 || len(pn.Networks) != 0 {
		t.Fatalf("no network yet: %+v, want the pools", pn)
	}
	// Whatever subnet Docker picks next must lie in what was returned.
	create := func(name string, labels ...string) netip.Prefix {
		t.Helper()
		args := []string{"network", "create"}
		for _, l := range labels {
			args = append(args, "--label", l)
		}
		if out, err := exec.CommandContext(ctx, docker, append(args, name)...).CombinedOutput(); err != nil {
			t.Fatalf("docker network create: %v\n%s", err, out)
		}
		t.Cleanup(func() { exec.Command(docker, "network", "rm", name).Run() })
		out, err := exec.CommandContext(ctx, docker, "network", "inspect", "-f", "{{range .IPAM.Config}}{{.Subnet}}{{end}}", name).Output()
		if err != nil {
			t.Fatal(err)
		}
		p, err := netip.ParsePrefix(strings.TrimSpace(string(out)))
		if err != nil {
			t.Fatalf("subnet of %s: %v", name, err)
		}
		return p
	}
	labelled := create(project+"_default", LabelComposeProject+"="+project, "com.docker.compose.network=default")
	if !slices.ContainsFunc(pn.Subnets, func(p netip.Prefix) bool { return p.Contains(labelled.Addr()) && p.Bits() <= labelled.Bits() }) {
		t.Errorf("the pools %v do not contain the subnet Docker chose next, %s", pn.Subnets, labelled)
	}
	pn, err = eng.ProjectSubnets(ctx, project)
	if err != nil {
		t.Fatal(err)
	}
	if !pn.Exist || !slices.Equal(pn.Subnets, []netip.Prefix{labelled}) || !slices.Equal(pn.Networks, []string{project + "_default"}) {
		t.Errorf("labelled network: %+v, want %s", pn, labelled)
	}

	byName := project + "b"
	unlabelled := create(byName + "_default")
	pn, err = eng.ProjectSubnets(ctx, byName)
	if err != nil {
		t.Fatal(err)
	}
	if !pn.Exist || !slices.Equal(pn.Subnets, []netip.Prefix{unlabelled}) {
		t.Errorf("network found by name: %+v, want %s", pn, unlabelled)
	}
}
