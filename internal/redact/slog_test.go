package redact_test

import (
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/carto-setup/carto-setup/internal/redact"
	"github.com/carto-setup/carto-setup/internal/redact/redacttest"
)

type credentials struct {
	User     string
	Password string
}

// TestHandlerMasksEveryRecord logs hostile secrets as the message, string
// attributes, errors, structs, byte slices, groups and pre-bound
// attributes, through NewLogger and a JSON handler: no secret shows.
// Secrets registered after the logger was made are masked too.
func TestHandlerMasksEveryRecord(t *testing.T) {
	t.Parallel()
	seed := rand.Uint64()
	g := redacttest.New(seed)
	for c := range 300 {
		var secrets []string
		for range 1 + g.Intn(3) {
			secrets = append(secrets, g.Secret())
		}
		var current atomic.Pointer[redact.Redactor]
		var out strings.Builder
		log := redact.NewLogger(&out, nil, current.Load)
		if c%2 == 1 {
			log = slog.New(redact.NewHandler(slog.NewJSONHandler(redact.NewMaskingWriter(&out, current.Load), nil), current.Load))
		}
		// The secrets are entered after the logger exists.
		current.Store(redact.New(redact.Values(secrets...)))
		for _, s := range secrets {
			for _, carrier := range g.Carriers(s) {
				log.Warn(carrier, "k", carrier, "err", errors.New("dial: "+carrier), "creds", credentials{"u", carrier},
					"raw", []byte(carrier), slog.Group("g", slog.String("inner", carrier)))
				log.With("bound", carrier).WithGroup("grp").Info("ok", "n", 1)
			}
		}
		if leaked := redacttest.Shown(out.String(), secrets); leaked != nil {
			t.Fatalf("seed %d case %d: the log shows %q:\n%s", seed, c, leaked, out.String())
		}
	}
}

func TestHandlerKeepsOrdinaryValues(t *testing.T) {
	t.Parallel()
	var out strings.Builder
	r := redact.New(redact.Values("s3cr3t-Value"))
	log := redact.NewLogger(&out, nil, func() *redact.Redactor { return r })
	log.Info("install started", "job", "20260101-ab", "n", 3, "ok", true, "err", fmt.Errorf("wrapped: %w", errors.New("x")))
	for _, want := range []string{`msg="install started"`, "job=20260101-ab", "n=3", "ok=true", `err="wrapped: x"`} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("log lacks %s:\n%s", want, &out)
		}
	}
	log = redact.NewLogger(&out, nil, func() *redact.Redactor { return nil })
	log.Info("no secrets yet", "k", "v")
	if !strings.Contains(out.String(), "k=v") {
		t.Errorf("a nil redactor changed the record:\n%s", &out)
	}
}
