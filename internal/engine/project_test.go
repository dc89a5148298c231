package engine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os/exec"
	"testing"
	"time"

	"github.com/carto-setup/carto-setup/internal/testenv"
)

// TestProjectResourcesLive creates a labelled volume and network the way
// Compose does, lists them with their creation times, removes them, and
// removes them again (already gone is no error).
func TestProjectResourcesLive(t *testing.T) {
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
	project := "engineproj" + hex.EncodeToString(suffix)
	vol, nw := project+"_data", project+"_default"
	label := LabelComposeProject + "=" + project
	before := time.Now().Add(-time.Second)
	for _, args := range [][]string{{"volume", "create", "--label", label, vol}, {"network", "create", "--label", label, nw}} {
		if out, err := exec.CommandContext(ctx, docker, args...).CombinedOutput(); err != nil {
			t.Fatalf("docker %v: %v\n%s", args, err, out)
		}
	}
	t.Cleanup(func() {
		exec.Command(docker, "volume", "rm", "-f", vol).Run()
		exec.Command(docker, "network", "rm", nw).Run()
	})
	// Another project's volume is not listed.
	other := project + "x_data"
	if out, err := exec.CommandContext(ctx, docker, "volume", "create", "--label", label+"x", other).CombinedOutput(); err != nil {
		t.Fatalf("docker volume create: %v\n%s", err, out)
	}
	t.Cleanup(func() { exec.Command(docker, "volume", "rm", "-f", other).Run() })

	vols, err := eng.ProjectVolumes(ctx, project)
	if err != nil {
		t.Fatal(err)
	}
	nets, err := eng.ProjectNetworks(ctx, project)
	if err != nil {
		t.Fatal(err)
	}
	if len(vols) != 1 || vols[0].Name != vol || len(nets) != 1 || nets[0].Name != nw {
		t.Fatalf("listed volumes %+v and networks %+v, want %s and %s", vols, nets, vol, nw)
	}
	after := time.Now().Add(time.Second)
	for _, r := range []Resource{vols[0], nets[0]} {
		if r.Created.Before(before) || r.Created.After(after) {
			t.Errorf("%s created at %v, want between %v and %v", r.Name, r.Created, before, after)
		}
	}
	for range 2 {
		if err := eng.RemoveVolume(ctx, vol); err != nil {
			t.Fatal(err)
		}
		if err := eng.RemoveNetwork(ctx, nw); err != nil {
			t.Fatal(err)
		}
	}
	vols, _ = eng.ProjectVolumes(ctx, project)
	nets, _ = eng.ProjectNetworks(ctx, project)
	if len(vols)+len(nets) != 0 {
		t.Errorf("left after removal: %+v %+v", vols, nets)
	}
}
