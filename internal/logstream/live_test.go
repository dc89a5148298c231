package logstream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/carto-setup/carto-setup/internal/engine"
	"github.com/carto-setup/carto-setup/internal/testenv"
	"github.com/google/go-cmp/cmp"
)

// The live tests run loggen (testdata/loggen) in containers of a fake
// Compose project on the real Docker Engine and follow them.

// liveDocker returns a connected engine and a function running the docker
// CLI (test setup only; the product talks to the Engine API).
func liveDocker(t *testing.T) (*engine.Client, func(args ...string) string) {
	t.Helper()
	bin := testenv.LookPath(t, "docker", "apt-get install docker.io")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cli, err := engine.New(ctx)
	if err != nil {
		testenv.Missing(t, "Docker Engine", "install docker.io and start dockerd: "+err.Error())
	}
	t.Cleanup(func() { cli.Close() })
	return cli, func(args ...string) string {
		t.Helper()
		out, err := exec.Command(bin, args...).Output()
		if err != nil {
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				err = fmt.Errorf("%w: %s", err, ee.Stderr)
			}
			t.Fatalf("docker %s: %v", strings.Join(args, " "), err)
		}
		return strings.TrimSpace(string(out))
	}
}

// buildLoggen builds loggen statically into a FROM scratch image and
// returns its tag; the image is removed at cleanup.
func buildLoggen(t *testing.T, docker func(...string) string) string {
	t.Helper()
	gobin := testenv.LookPath(t, "go", "install Go 1.26")
	dir := t.TempDir()
	build := exec.Command(gobin, "build", "-trimpath", "-o", filepath.Join(dir, "loggen"), "./testdata/loggen")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build loggen: %v\n%s", err, out)
	}
	df := "FROM scratch\nCOPY loggen /loggen\nENTRYPOINT [\"/loggen\"]\n"
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(df), 0o644); err != nil {
		t.Fatal(err)
	}
	tag := fmt.Sprintf("carto-setup-logstream-loggen:%d", time.Now().UnixNano())
	docker("build", "-q", "-t", tag, dir)
	t.Cleanup(func() { exec.Command("docker", "rmi", "-f", tag).Run() })
	return tag
}

// countingDocker counts the daemon log streams per container.
type countingDocker struct {
	Docker
	mu      sync.Mutex
	open    map[string]int
	maxOpen map[string]int
	opened  map[string]int
}

func (c *countingDocker) FollowLogs(ctx context.Context, id string, since time.Time) (io.ReadCloser, error) {
	rc, err := c.Docker.FollowLogs(ctx, id, since)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.open[id]++
	c.opened[id]++
	c.maxOpen[id] = max(c.maxOpen[id], c.open[id])
	c.mu.Unlock()
	return &countingBody{ReadCloser: rc, c: c, id: id}, nil
}

type countingBody struct {
	io.ReadCloser
	c    *countingDocker
	id   string
	once sync.Once
}

func (b *countingBody) Close() error {
	b.once.Do(func() { b.c.mu.Lock(); b.c.open[b.id]--; b.c.mu.Unlock() })
	return b.ReadCloser.Close()
}

// reader collects everything a subscription delivers, the way the
// websocket writer will: wait for a notification, drain, repeat.
func reader(ctx context.Context, s *Subscription, wg *sync.WaitGroup) *[]Line {
	var got []Line
	wg.Go(func() {
		defer s.Close()
		for {
			for {
				b := s.Next(500)
				got = append(got, b.Lines...)
				if len(b.Gaps) > 0 {
					panic(fmt.Sprintf("unexpected gap %v", b.Gaps))
				}
				if !b.More {
					break
				}
			}
			select {
			case <-s.Notify():
			case <-ctx.Done():
				return
			}
		}
	})
	return &got
}

func loggenLong(n int) string {
	p := fmt.Sprintf("long=%d ", n)
	return p + strings.Repeat("0123456789", n/10+1)[:n-len(p)]
}

func loggenFancy() string {
	return "\x1b[31mrouge\x1b[0m " + strings.Repeat("é€😀", 3000) + " \x1b[1mfin\x1b[0m"
}

func TestLiveFollow(t *testing.T) {
	cli, docker := liveDocker(t)
	project := fmt.Sprintf("lstest%d", time.Now().UnixNano()%1e9)
	var image string
	t.Cleanup(func() { // registered first, so it runs after the others
		left, _ := exec.Command("docker", "ps", "-aq", "--filter", "label="+engine.LabelComposeProject+"="+project).Output()
		img, _ := exec.Command("docker", "images", "-q", image).Output()
		if len(left) > 0 || len(img) > 0 {
			t.Errorf("left behind: containers %q, image %q", left, img)
		}
	})
	image = buildLoggen(t, docker)
	t.Cleanup(func() {
		ids, _ := exec.Command("docker", "ps", "-aq", "--filter", "label="+engine.LabelComposeProject+"="+project).Output()
		if f := strings.Fields(string(ids)); len(f) > 0 {
			exec.Command("docker", append([]string{"rm", "-f"}, f...)...).Run()
		}
	})
	name := func(service string) string { return project + "-" + service + "-1" }
	run := func(service string, tty bool, args ...string) {
		a := []string{"run", "-d", "--name", name(service),
			"--label", engine.LabelComposeProject + "=" + project, "--label", engine.LabelComposeService + "=" + service}
		if tty {
			a = append(a, "-t")
		}
		docker(append(append(a, image), args...)...)
	}

	// Started before the follower: found by listing.
	run("early", false, "-every", "10ms", "-stderr-every", "7")

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	h := NewHub(HubConfig{})
	cd := &countingDocker{Docker: cli, open: map[string]int{}, maxOpen: map[string]int{}, opened: map[string]int{}}
	var smu sync.Mutex
	var states []StateChange
	f := NewFollower(FollowerConfig{Project: project, Docker: cd, Hub: h, OnState: func(s StateChange) {
		smu.Lock()
		states = append(states, s)
		smu.Unlock()
	}})
	runCtx, stopRun := context.WithCancel(ctx)
	runDone := make(chan error, 1)
	go func() { runDone <- f.Run(runCtx) }()
	var readers sync.WaitGroup
	got1 := reader(runCtx, h.Subscribe(nil), &readers)
	got2 := reader(runCtx, h.Subscribe(nil), &readers)

	// Started while following: found through start events.
	run("long", false, "-fancy", "-long", "40000,100000", "-lines", "5", "-final", "no newline at the end")
	run("tty", true, "-long", "20000", "-lines", "5", "-final", "tty end")
	run("restart", false, "-every", "5ms")

	count := func(container, contains string) int {
		n := 0
		for _, l := range h.Poll(nil, 1<<20).Lines {
			if l.Container == container && strings.Contains(l.Text, contains) {
				n++
			}
		}
		return n
	}
	waitLive := func(what string, cond func() bool) {
		t.Helper()
		for !cond() {
			select {
			case <-ctx.Done():
				ls := h.Poll(nil, 1<<20).Lines
				for _, l := range ls[max(0, len(ls)-15):] {
					t.Logf("%s %s %s %.80q", l.Container, l.TS.Format(time.RFC3339Nano), l.Stream, l.Text)
				}
				smu.Lock()
				t.Logf("streams open %d, opened %d, states %v", f.Streams(), f.Opened(), states)
				smu.Unlock()
				t.Fatalf("timed out waiting for %s", what)
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	waitLive("restart's first lines", func() bool { return count(name("restart"), "seq=") >= 100 })
	docker("restart", "-t", "10", name("restart"))
	waitLive("restart's second run", func() bool { return count(name("restart"), "stopping") == 1 && count(name("restart"), "seq=") >= 250 })
	docker("stop", "-t", "10", name("restart"), name("early"))
	docker("wait", name("long"), name("tty"))
	waitLive("every stream to end", func() bool {
		return count(name("restart"), "stopping") == 2 && count(name("early"), "stopping") == 1 && f.Streams() == 0
	})
	time.Sleep(200 * time.Millisecond) // room for a stray duplicate to show up
	stopRun()
	if err := <-runDone; err != nil {
		t.Errorf("Run: %v", err)
	}
	readers.Wait()
	// The transport keeps idle connections, so count only our goroutines.
	buf := make([]byte, 1<<20)
	if st := string(buf[:runtime.Stack(buf, true)]); strings.Contains(st, "logstream.(*Follower)") {
		t.Errorf("follower goroutines left after Run returned:\n%s", st)
	}

	all := h.Poll(nil, 1<<20)
	if len(all.Gaps) > 0 || all.More {
		t.Fatalf("hub has gaps %v or more lines than read", all.Gaps)
	}
	byContainer := map[string][]Line{}
	for _, l := range all.Lines {
		byContainer[l.Container] = append(byContainer[l.Container], l)
	}
	for _, c := range byContainer {
		slices.SortFunc(c, func(a, b Line) int { return int(a.Seq) - int(b.Seq) })
	}
	type sl struct {
		Stream Stream
		Text   string
	}
	strip := func(ls []Line) []sl {
		var out []sl
		for _, l := range ls {
			out = append(out, sl{l.Stream, l.Text})
		}
		return out
	}

	t.Run("two subscribers see the same lines", func(t *testing.T) {
		key := func(ls []Line) []string {
			var k []string
			for _, l := range ls {
				k = append(k, fmt.Sprintf("%s/%d/%s", l.Container, l.Seq, l.Text))
			}
			slices.Sort(k)
			return k
		}
		if len(*got1) != len(all.Lines) {
			t.Errorf("subscriber got %d lines, hub has %d", len(*got1), len(all.Lines))
		}
		if diff := cmp.Diff(key(*got1), key(*got2)); diff != "" {
			t.Errorf("subscribers differ (-1 +2):\n%.2000s", diff)
		}
	})

	t.Run("one daemon stream per container", func(t *testing.T) {
		cd.mu.Lock()
		defer cd.mu.Unlock()
		for id, n := range cd.maxOpen {
			if n != 1 {
				t.Errorf("container %.12s had %d streams open at once", id, n)
			}
		}
		if len(cd.opened) != 4 {
			t.Errorf("streams opened for %d containers, want 4", len(cd.opened))
		}
	})

	t.Run("long lines, ANSI, UTF-8 and a last line without newline", func(t *testing.T) {
		// The json-file driver stores each chunk as a JSON string, which
		// turns every byte of a rune cut at 16 KiB into U+FFFD; the
		// daemon's stored copy is damaged already (the comparison with
		// it below still asserts we add nothing).
		fancy := loggenFancy()
		daemonCut := func(s string) string {
			var b strings.Builder
			for _, r := range s {
				b.WriteRune(r)
			}
			return b.String()
		}
		fancy = daemonCut(fancy[:16384]) + daemonCut(fancy[16384:])
		want := []sl{{Stdout, fancy}, {Stdout, loggenLong(40000)}, {Stdout, loggenLong(100000)}}
		for _, l := range byContainer[name("long")][3:8] {
			want = append(want, sl{Stdout, l.Text})
		}
		want = append(want, sl{Stdout, "no newline at the end"})
		got := strip(byContainer[name("long")])
		if len(want) != len(got) {
			t.Fatalf("got %d lines, want %d: %.300q", len(got), len(want), got)
		}
		for i := range want {
			if want[i] != got[i] {
				j := 0
				for j < min(len(got[i].Text), len(want[i].Text)) && got[i].Text[j] == want[i].Text[j] {
					j++
				}
				t.Errorf("line %d: got %s %d bytes, want %s %d bytes; from byte %d got %.60q, want %.60q",
					i, got[i].Stream, len(got[i].Text), want[i].Stream, len(want[i].Text), j, got[i].Text[j:], want[i].Text[j:])
			}
		}
	})

	t.Run("tty", func(t *testing.T) {
		got := strip(byContainer[name("tty")])
		if len(got) != 7 || got[0] != (sl{Stdout, loggenLong(20000)}) || got[6] != (sl{Stdout, "tty end"}) {
			t.Errorf("tty lines: %.500v", got)
		}
		for _, l := range got[1:6] {
			if !strings.HasPrefix(l.Text, "seq=") || strings.ContainsAny(l.Text, "\r\n") {
				t.Errorf("tty line %q", l.Text)
			}
		}
	})

	// checkRuns verifies that every run of loggen in a container arrived
	// whole: seq 0, 1, 2, ... without hole or repeat, ending with the
	// line it wrote on SIGTERM; and that stderr lines are tagged.
	checkRuns := func(t *testing.T, lines []Line, wantRuns, stderrEvery int) {
		type key struct {
			run    string
			stream Stream
		}
		last := map[key]int{}
		seen := map[string]map[int]bool{}
		stopped := map[string]bool{}
		var order []string
		for _, l := range lines {
			var seq int
			var run string
			if _, err := fmt.Sscanf(l.Text, "stopping run=%s", &run); err == nil {
				stopped[run] = true
				continue
			}
			if _, err := fmt.Sscanf(l.Text, "seq=%d run=%s", &seq, &run); err != nil {
				t.Errorf("unexpected line %q", l.Text)
				continue
			}
			if seen[run] == nil {
				seen[run] = map[int]bool{}
				order = append(order, run)
			}
			if stopped[run] {
				t.Errorf("run %s: line after its last", run)
			}
			if seen[run][seq] {
				t.Errorf("run %s: seq %d repeated", run, seq)
			}
			seen[run][seq] = true
			// stdout and stderr are copied by different goroutines of
			// the daemon, so only each stream on its own is in order.
			k := key{run, l.Stream}
			if prev, ok := last[k]; ok && seq <= prev {
				t.Errorf("run %s: %s seq %d after %d", run, l.Stream, seq, prev)
			}
			last[k] = seq
			if wantStream := map[bool]Stream{true: Stderr, false: Stdout}[stderrEvery > 0 && seq%stderrEvery == 0]; l.Stream != wantStream {
				t.Errorf("run %s seq %d on %s, want %s", run, seq, l.Stream, wantStream)
			}
		}
		if len(order) != wantRuns {
			t.Errorf("%d runs, want %d", len(order), wantRuns)
		}
		for _, r := range order {
			for i := range len(seen[r]) {
				if !seen[r][i] {
					t.Errorf("run %s: seq %d missing", r, i)
				}
			}
			if !stopped[r] {
				t.Errorf("run %s: its last line (written on SIGTERM, without newline) is missing", r)
			}
		}
	}
	t.Run("interleaved stderr in order", func(t *testing.T) { checkRuns(t, byContainer[name("early")], 1, 7) })
	t.Run("restart loses and repeats nothing", func(t *testing.T) {
		checkRuns(t, byContainer[name("restart")], 2, 0)
		cd.mu.Lock()
		defer cd.mu.Unlock()
		for id, n := range cd.opened {
			t.Logf("container %.12s: %d streams opened", id, n)
		}
	})

	// Ground truth: the whole stored log of each stopped container, read
	// again in one request, equals what was followed.
	t.Run("identical to the daemon's stored logs", func(t *testing.T) {
		for _, svc := range []string{"early", "long", "tty", "restart"} {
			rc, err := cli.FollowLogs(context.Background(), name(svc), time.Time{})
			if err != nil {
				t.Fatal(err)
			}
			info, err := cli.InspectContainer(context.Background(), name(svc))
			if err != nil {
				t.Fatal(err)
			}
			var want []sl
			dec := NewDecoder(rc, info.Tty, true)
			for {
				r, err := dec.Next()
				if err != nil {
					if !errors.Is(err, io.EOF) {
						t.Error(err)
					}
					break
				}
				want = append(want, sl{r.Stream, string(r.Text)})
			}
			rc.Close()
			if diff := cmp.Diff(want, strip(byContainer[name(svc)])); diff != "" {
				t.Errorf("%s: followed lines differ from stored logs (-stored +followed):\n%.3000s", svc, diff)
			}
		}
	})

	t.Run("state changes", func(t *testing.T) {
		smu.Lock()
		defer smu.Unlock()
		var restartDies, listed int
		for _, s := range states {
			if s.Name == name("restart") && s.Action == "die" {
				restartDies++
			}
			if s.Action == "list" && s.Name == name("early") && s.State == "running" {
				listed++
			}
		}
		if restartDies != 2 || listed != 1 {
			t.Errorf("saw %d die events of the restarted container (want 2) and %d listings of early (want 1)", restartDies, listed)
		}
	})
}
