package backup

import (
	"bytes"
	"context"
	"crypto/rand"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/carto-setup/carto-setup/internal/engine"
	"github.com/carto-setup/carto-setup/internal/pgtest"
	"github.com/carto-setup/carto-setup/internal/testenv"
)

var lddRE = regexp.MustCompile(`(/\S+\.so[^\s]*)`)

// clientImage builds an image FROM scratch holding this machine's
// PostgreSQL client tools and the libraries they load, plus sleep to keep
// a container running: the stand-in for the embedded database's container,
// where the tools live.
func clientImage(t *testing.T, ctx context.Context, eng *engine.Client) string {
	t.Helper()
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_dump")
	if len(bins) == 0 {
		testenv.Missing(t, "PostgreSQL client binaries", "apt-get install postgresql-client")
	}
	slices.Sort(bins)
	dir := filepath.Dir(bins[len(bins)-1])
	sleep := testenv.LookPath(t, "sleep", "apt-get install coreutils")
	files := map[string]engine.BuildFile{"etc/passwd": {Data: []byte("root:x:0:0:root:/root:/bin/sh\n")}}
	for name, path := range map[string]string{"pg_dump": filepath.Join(dir, "pg_dump"), "pg_restore": filepath.Join(dir, "pg_restore"),
		"psql": filepath.Join(dir, "psql"), "sleep": sleep} {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		files["usr/bin/"+name] = engine.BuildFile{Data: data, Mode: 0o755}
		out, err := exec.Command("ldd", path).Output()
		if err != nil {
			t.Fatalf("ldd %s: %v", path, err)
		}
		for _, lib := range lddRE.FindAllString(string(out), -1) {
			data, err := os.ReadFile(lib)
			if err != nil {
				t.Fatal(err)
			}
			files[strings.TrimPrefix(lib, "/")] = engine.BuildFile{Data: data, Mode: 0o755}
		}
	}
	tag := "carto-setup-backuptest:" + strings.ToLower(rand.Text()[:8])
	var progress bytes.Buffer
	if err := eng.BuildImage(ctx, tag, files, "FROM scratch\nCOPY . /\nENTRYPOINT [\"/usr/bin/sleep\", \"infinity\"]\n", &progress); err != nil {
		t.Fatalf("build %s: %v\n%s", tag, err, progress.String())
	}
	t.Cleanup(func() {
		if err := eng.RemoveImage(context.Background(), tag); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	return tag
}

// TestDumpInContainer takes the backup with the tools inside a container,
// as for an embedded database the host cannot reach: the dump streams to
// the host, pg_restore --list and the scratch restore read it on stdin. A
// host with only an old pg_dump also falls back to the container.
func TestDumpInContainer(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	eng, err := engine.New(ctx)
	if err != nil {
		testenv.Missing(t, "Docker Engine", "install Docker Engine 20.10+ and start it: "+err.Error())
	}
	t.Cleanup(func() { eng.Close() })
	testenv.LookPath(t, "docker", "apt-get install docker.io")
	psql := testenv.LookPath(t, "psql", "apt-get install postgresql-client")
	bridge, err := eng.DefaultBridge(ctx)
	if err != nil {
		t.Fatal(err)
	}
	gw := bridge.Gateway.String()
	pg := pgtest.Start(t, pgtest.Options{ListenAddrs: []string{gw}})
	metadata(t, pg)

	image := clientImage(t, ctx, eng)
	name := "carto-setup-backuptest-" + strings.ToLower(rand.Text()[:8])
	if out, err := exec.CommandContext(ctx, "docker", "run", "--detach", "--rm", "--name", name, image).CombinedOutput(); err != nil {
		t.Fatalf("docker run: %v\n%s", err, out)
	}
	t.Cleanup(func() { exec.Command("docker", "rm", "--force", name).Run() })

	inside := Conn{Host: gw, Port: pg.Port, User: pg.User, Password: pg.Password, Database: "workspace", SSLMode: "disable"}
	o := Options{Container: &Container{Exec: eng, ID: name, Conn: inside}, Dir: t.TempDir(), Now: time.Now}
	b, err := Take(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if b.Method != "container" || b.Tables != 2 || b.Rows != 252 || b.Scratch == "" {
		t.Errorf("backup %+v", b)
	}
	if err := Check(b.Path, b.SHA256); err != nil {
		t.Error(err)
	}
	// The host's own pg_restore reads the file the container wrote.
	if out, err := exec.Command("pg_restore", "--list", b.Path).CombinedOutput(); err != nil || !strings.Contains(string(out), "TABLE public maps") {
		t.Errorf("host pg_restore --list: %v\n%s", err, out)
	}
	if n := scratchDatabases(t, pg); n != 0 {
		t.Errorf("%d scratch databases left", n)
	}

	old := t.TempDir()
	os.WriteFile(filepath.Join(old, "pg_dump"), []byte("#!/bin/sh\necho 'pg_dump (PostgreSQL) 12.22'\n"), 0o755)
	os.Symlink(psql, filepath.Join(old, "psql"))
	o.Host, o.HostBin = hostConn(pg), old
	if b, err := Take(ctx, o); err != nil || b.Method != "container" {
		t.Errorf("old host pg_dump: %+v %v, want the container", b, err)
	}
}
