package compose

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// orphanChildEnv makes the test binary, started under a Compose-like
// command line, act as a long-running Compose process: "sleep" runs until
// signalled, "ignore-term" also ignores SIGTERM, and "spawn" starts a
// "sleep" grandchild in its own session, prints its PID and exits, so the
// grandchild is orphaned as a killed wizard's docker-compose is.
const orphanChildEnv = "CARTO_SETUP_COMPOSE_CHILD"

func TestMain(m *testing.M) {
	switch os.Getenv(orphanChildEnv) {
	case "":
		os.Exit(m.Run())
	case "ignore-term":
		signal.Ignore(syscall.SIGTERM)
		fallthrough
	case "sleep":
		fmt.Println("ready")
		time.Sleep(time.Hour)
		os.Exit(0)
	case "spawn":
		exe, err := os.Executable() // argv[0] is "spawn-helper", not a path
		if err != nil {
			os.Exit(2)
		}
		cmd := &exec.Cmd{Path: exe, Args: os.Args[1:]}
		cmd.Env = append(os.Environ(), orphanChildEnv+"=sleep")
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		out, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			os.Exit(2)
		}
		bufio.NewReader(out).ReadString('\n')
		fmt.Println(cmd.Process.Pid)
		os.Exit(0)
	}
}

func projectName(t *testing.T) string {
	b := make([]byte, 4)
	rand.Read(b)
	return "orphantest" + hex.EncodeToString(b)
}

// startFake starts a fake Compose process with argv args (argv[0] as
// given) in mode, and waits until it runs. Its exit status is reported on
// the returned channel.
func startFake(t *testing.T, mode string, args []string, env []string, dir string) (*exec.Cmd, <-chan *os.ProcessState) {
	t.Helper()
	cmd := &exec.Cmd{Path: os.Args[0], Args: args, Dir: dir,
		Env: append(append(os.Environ(), orphanChildEnv+"="+mode), env...)}
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	if line, err := bufio.NewReader(out).ReadString('\n'); err != nil || line != "ready\n" {
		t.Fatalf("fake compose did not start: %q %v", line, err)
	}
	done := make(chan *os.ProcessState, 1)
	go func() { cmd.Wait(); done <- cmd.ProcessState }()
	return cmd, done
}

func TestProjectFlag(t *testing.T) {
	tests := []struct {
		args []string
		want string
		ok   bool
	}{
		{[]string{"--ansi", "never", "--project-name", "p1", "--file", "f", "up", "-d"}, "p1", true},
		{[]string{"-p", "p2", "up"}, "p2", true},
		{[]string{"-pp3", "up"}, "p3", true},
		{[]string{"--project-name=p4", "down"}, "p4", true},
		{[]string{"-f", "-p", "up"}, "", false}, // -p is the file's name
		{[]string{"run", "-p", "8080:80", "svc"}, "", false},
		{[]string{"--ansi", "never", "up", "--project-name", "late"}, "", false},
		{[]string{"-p"}, "", false},
	}
	for _, tt := range tests {
		got, ok := projectFlag(tt.args)
		if got != tt.want || ok != tt.ok {
			t.Errorf("projectFlag(%q) = %q, %v; want %q, %v", tt.args, got, ok, tt.want, tt.ok)
		}
	}
}

// TestFindAndStopComposeProcesses starts real processes whose command
// lines mimic every way Compose runs, plus look-alikes that must not match,
// and stops the matches: one with SIGTERM, one that ignores it with SIGKILL.
func TestFindAndStopComposeProcesses(t *testing.T) {
	t.Parallel()
	proj := projectName(t)
	projDir := filepath.Join(t.TempDir(), proj)
	os.Mkdir(projDir, 0o755)
	type fake struct {
		name  string
		mode  string
		args  []string
		env   []string
		dir   string
		match string // expected ProjectFrom, "" for no match
	}
	fakes := []fake{
		{"our own Args", "ignore-term", Tool{Path: "/usr/bin/docker-compose"}.Args(proj, "/opt/carto", "up", "-d", "--remove-orphans"), nil, "", "flag"},
		{"python docker-compose 1.29", "sleep", []string{"/usr/bin/python3", "/usr/bin/docker-compose", "-p", proj, "up", "-d"}, nil, "", "flag"},
		{"docker compose", "sleep", []string{"docker", "compose", "--project-name=" + proj, "up"}, nil, "", "flag"},
		{"plugin", "sleep", Tool{Path: "/usr/libexec/docker/cli-plugins/docker-compose", Flavor: Plugin}.Args(proj, "/opt/carto", "down"), nil, "", "flag"},
		{"environment", "sleep", []string{"docker-compose", "up"}, []string{"COMPOSE_PROJECT_NAME=" + proj}, "", "environment"},
		{"directory", "sleep", []string{"docker-compose", "up"}, nil, projDir, "directory"},
		{"-p after the subcommand", "sleep", []string{"docker-compose", "run", "-p", proj, "svc"}, nil, "", ""},
		{"other project", "sleep", []string{"docker-compose", "-p", proj + "x", "up"}, nil, "", ""},
		{"not compose", "sleep", []string{"/usr/bin/docker-composer", "-p", proj}, nil, "", ""},
	}
	type started struct {
		fake
		cmd  *exec.Cmd
		done <-chan *os.ProcessState
	}
	var all []started
	for _, f := range fakes {
		cmd, done := startFake(t, f.mode, f.args, f.env, f.dir)
		all = append(all, started{f, cmd, done})
	}

	found, err := FindProcesses(ProcDir, proj)
	if err != nil {
		t.Fatal(err)
	}
	got := map[int]string{}
	for _, p := range found {
		got[p.PID] = p.ProjectFrom
		if p.PPID != os.Getpid() || p.Started == 0 {
			t.Errorf("%s: ppid %d started %d", p, p.PPID, p.Started)
		}
	}
	want := map[int]string{}
	for _, s := range all {
		if s.match != "" {
			want[s.cmd.Process.Pid] = s.match
		}
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("found (-want +got):\n%s", d)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, s := range all[:2] {
		i := slices.IndexFunc(found, func(p Process) bool { return p.PID == s.cmd.Process.Pid })
		if err := StopProcess(ctx, ProcDir, found[i], 300*time.Millisecond); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		st := <-s.done
		ws := st.Sys().(syscall.WaitStatus)
		wantSig := syscall.SIGTERM
		if s.mode == "ignore-term" {
			wantSig = syscall.SIGKILL
		}
		if !ws.Signaled() || ws.Signal() != wantSig {
			t.Errorf("%s: ended with %v, want %v", s.name, st, wantSig)
		}
	}
	// A stopped process is no longer found.
	found, _ = FindProcesses(ProcDir, proj)
	if len(found) != len(want)-2 {
		t.Fatalf("after stopping two, found %d of %d", len(found), len(want))
	}
}

// TestOrphanedComposeIsFoundAndStopped orphans a fake docker-compose the
// way a SIGKILLed wizard does (its parent exits, it is reparented) and
// stops it, although it is not this process's child.
func TestOrphanedComposeIsFoundAndStopped(t *testing.T) {
	t.Parallel()
	proj := projectName(t)
	args := append([]string{"spawn-helper"}, Tool{Path: "/usr/bin/docker-compose"}.Args(proj, "/opt/carto", "up", "-d")...)
	cmd := &exec.Cmd{Path: os.Args[0], Args: args, Env: append(os.Environ(), orphanChildEnv+"=spawn")}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("spawn: %v", err)
	}
	pid, err := strconv.Atoi(string(out[:len(out)-1]))
	if err != nil {
		t.Fatalf("spawn printed %q", out)
	}
	t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL) })

	found, err := FindProcesses(ProcDir, proj)
	if err != nil {
		t.Fatal(err)
	}
	if len(found) != 1 || found[0].PID != pid || found[0].PPID == os.Getpid() || found[0].PPID == cmd.Process.Pid {
		t.Fatalf("found %+v, want the orphan %d reparented away from its dead parent", found, pid)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Waiting with a short deadline fails while it runs.
	short, cancelShort := context.WithTimeout(ctx, 50*time.Millisecond)
	if err := WaitGone(short, ProcDir, found[0], 10*time.Millisecond); err == nil {
		t.Fatal("WaitGone returned while the process runs")
	}
	cancelShort()
	if err := StopProcess(ctx, ProcDir, found[0], 2*time.Second); err != nil {
		t.Fatal(err)
	}
	if !gone(ProcDir, found[0]) {
		t.Fatal("orphan still running after StopProcess")
	}
}

// TestStopNeverSignalsAReusedPID gives StopProcess a record whose start
// time does not match the live process with that PID, as after PID reuse:
// the process must not be signalled.
func TestStopNeverSignalsAReusedPID(t *testing.T) {
	t.Parallel()
	proj := projectName(t)
	cmd, done := startFake(t, "sleep", []string{"docker-compose", "-p", proj, "up"}, nil, "")
	found, _ := FindProcesses(ProcDir, proj)
	if len(found) != 1 {
		t.Fatalf("found %+v", found)
	}
	stale := found[0]
	stale.Started--
	if err := StopProcess(context.Background(), ProcDir, stale, time.Second); err != nil {
		t.Fatal(err)
	}
	select {
	case st := <-done:
		t.Fatalf("a process with a reused PID was signalled: %v", st)
	case <-time.After(200 * time.Millisecond):
	}
	if gone(ProcDir, found[0]) {
		t.Fatal("the live process is reported gone")
	}
	cmd.Process.Kill()
}
