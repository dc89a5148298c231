package logstream

import (
	"context"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/carto-setup/carto-setup/internal/redact/redacttest"
	"github.com/carto-setup/carto-setup/internal/testenv"
)

// TestPropertyLiveLogsShowNoSecret runs random hostile secrets, in every
// shape a container could print them, through the live log channel: the
// daemon's multiplexed stream, the follower's demultiplexer and masker,
// and the hub the websocket and polling readers serve. No line in the hub
// may show a secret.
func TestPropertyLiveLogsShowNoSecret(t *testing.T) {
	t.Parallel()
	const batches, perBatch = 60, 50 // 3,000 cases
	seed := rand.Uint64()
	g := redacttest.New(seed)
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	cases, lines := 0, 0
	for b := range batches {
		var secrets, carriers []string
		for range perBatch {
			for range 1 + g.Intn(3) {
				s := g.Secret()
				secrets = append(secrets, s)
				carriers = append(carriers, g.SomeCarriers(s, 4)...)
			}
			cases++
		}
		d := newFakeDocker()
		d.add("c1", "workspace-api", true)
		for i, l := range carriers {
			d.log("c1", byte(1+i%2), t0.Add(time.Duration(i)*time.Millisecond), l)
		}
		h := NewHub(HubConfig{MaxLines: len(carriers) + 1})
		f := NewFollower(FollowerConfig{Project: "p", Docker: d, Hub: h, Masker: NewMasker(secrets),
			MinBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- f.Run(ctx) }()
		testenv.WaitFor(t, "every line in the hub", 20*time.Second, func() bool { return len(h.Poll(nil, 1<<20).Lines) >= len(carriers) })
		cancel()
		<-done
		var out strings.Builder
		for _, l := range h.Poll(nil, 1<<20).Lines {
			out.WriteString(l.Text + "\n")
		}
		if leaked := redacttest.Shown(out.String(), secrets); leaked != nil {
			t.Fatalf("seed %d batch %d: the hub shows %q", seed, b, leaked)
		}
		lines += len(carriers)
	}
	t.Logf("seed %d: %d cases, %d log lines, 0 leaks", seed, cases, lines)
}
