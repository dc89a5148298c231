package redact_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/carto-setup/carto-setup/internal/redact"
	"github.com/carto-setup/carto-setup/internal/redact/redacttest"
)

// Each benchmark runs the replaced engine (baseline_test.go) on the same
// input first and reports "x-faster": the baseline's time per operation
// divided by the new engine's, in the same run (above 1: redact is faster).

// benchSet is a set of secrets, and the list of strings the old engines
// were given for it (they needed each spelling listed by hand: each line of
// a PEM key, the key as key.json writes it), as deploy's secretValues made it.
type benchSet struct {
	name    string
	secrets []redact.Secret
	old     []string
}

func benchSets() []benchSet {
	g := redacttest.New(1)
	password := func(i int) string { return fmt.Sprintf("bench-%03d-%s", i, g.Password()) }
	var few, many []string
	for i := range 10 {
		few = append(few, password(i))
	}
	for i := range 200 {
		many = append(many, password(i))
	}

	// An install: the nine wizard secrets (two key.json, two PEM keys, five
	// passwords) and a dozen internal secrets of the customer package.
	var install []redact.Secret
	var old []string
	oldAdd := func(v string) {
		old = append(old, v)
		for line := range strings.SplitSeq(v, "\n") {
			if line = strings.TrimSpace(line); len(line) >= 16 && !strings.HasPrefix(line, "-----") && line != v {
				old = append(old, line)
			}
		}
	}
	for i, what := range []string{"key.json", "bucket key", "router key", "ACME key", "admin pw", "workspace pw", "cache pw", "S3", "Azure"} {
		var v string
		switch {
		case i < 2:
			v = g.KeyJSON()
			var key struct {
				PrivateKey   string `json:"private_key"`
				PrivateKeyID string `json:"private_key_id"`
			}
			json.Unmarshal([]byte(v), &key)
			esc, _ := json.Marshal(key.PrivateKey)
			oldAdd(key.PrivateKey)
			oldAdd(key.PrivateKeyID)
			oldAdd(strings.Trim(string(esc), `"`))
		case i < 4:
			v = g.PEMKey()
		default:
			v = password(i)
		}
		install = append(install, redact.Secret{What: what, Value: v})
		oldAdd(v)
	}
	for i := range 12 {
		v := password(100 + i)
		install = append(install, redact.Secret{What: fmt.Sprintf("value of SECRET_%d", i), Value: v})
		oldAdd(v)
	}
	return []benchSet{
		{"10-passwords", redact.Values(few...), few},
		{"install", install, old},
		{"200-passwords", redact.Values(many...), many},
	}
}

// speedup measures the baseline and the new engine in alternating rounds
// (so that a machine shared with other work slows both alike) and reports
// the baseline's time per operation divided by the new engine's as
// x-faster; ns/op is the new engine's, measured by b.Loop.
func speedup(b *testing.B, baseline func(), current func()) {
	k := 1
	for {
		start := time.Now()
		for range k {
			baseline()
		}
		if time.Since(start) > 5*time.Millisecond || k > 1<<20 {
			break
		}
		k *= 2
	}
	var oldT, newT time.Duration
	for range 20 {
		start := time.Now()
		for range k {
			baseline()
		}
		oldT += time.Since(start)
		start = time.Now()
		for range k {
			current()
		}
		newT += time.Since(start)
	}
	b.ReportAllocs()
	for b.Loop() {
		current()
	}
	b.ReportMetric(float64(oldT)/float64(newT), "x-faster")
	b.ReportMetric(float64(oldT.Nanoseconds())/float64(20*k), "baseline-ns/op")
}

// BenchmarkLogLine masks one live log line, as the follower does for every
// line of every container: the old logstream masker against Redactor.Mask
// (which also applies the key-name rule and finds PEM keys).
func BenchmarkLogLine(b *testing.B) {
	lines := map[string]string{
		"clean":  `{"level":"info","msg":"request served","path":"/api/v1/maps","status":200,"ms":12,"user":"someone@example.com"}`,
		"secret": `{"level":"info","msg":"login","path":"/api/v1/maps","status":200,"ms":12,"note":"bench-secret-007-x"}`,
	}
	for _, set := range benchSets() {
		r := redact.New(set.secrets)
		m := newOldLogMasker(set.old)
		for name, line := range lines {
			if name == "secret" {
				line = strings.Replace(line, "bench-secret-007-x", set.old[7], 1)
			}
			data := []byte(line)
			b.Run(set.name+"/"+name, func(b *testing.B) {
				b.SetBytes(int64(len(data)))
				speedup(b, func() { m.Mask(data) }, func() { r.Mask(data) })
			})
		}
	}
}

// BenchmarkReviewLine masks customer.env lines as the review diff does:
// the old deploy maskLine (regexp, then the old masker) against MaskString.
func BenchmarkReviewLine(b *testing.B) {
	set := benchSets()[1]
	r := redact.New(set.secrets)
	m := newOldLogMasker(set.old)
	lines := []string{"SELFHOSTED_DOMAIN=carto.example.com", "POSTGRES_ADMIN_PASSWORD='" + set.old[0] + "'",
		"# Configuration for using a local postgres", "VALKEY_DOCKER_IMAGE=gcr.io/carto-onprem-artifacts/valkey:2026.1", ""}
	b.Run("env-lines", func(b *testing.B) {
		speedup(b, func() {
			for _, l := range lines {
				oldDeployMaskLine(l, m)
			}
		}, func() {
			for _, l := range lines {
				r.MaskString(l)
			}
		})
	})
}

// BenchmarkBundleFile masks a 1 MiB container log for the support bundle:
// the old bundle redact (one bytes.Index pass per spelling, then a PEM
// regexp) against Redactor.Text.
func BenchmarkBundleFile(b *testing.B) {
	for _, set := range benchSets() {
		var log strings.Builder
		for i := 0; log.Len() < 1<<20; i++ {
			fmt.Fprintf(&log, "2026-03-01T00:00:%02dZ worker %d processed job %d in %dms\n", i%60, i%7, i, i%300)
			if i%500 == 0 {
				log.WriteString("leaked " + set.old[i%len(set.old)] + "\n")
			}
		}
		data := []byte(log.String())
		var old []oldBundleSecret
		for _, s := range set.secrets {
			old = append(old, oldBundleSecret{What: s.What, Value: s.Value})
		}
		r := redact.New(set.secrets)
		b.Run(set.name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			fs := oldBundleForms(old)
			speedup(b, func() { oldBundleRedact(data, fs, false) }, func() { r.Text(data) })
		})
	}
}

// BenchmarkNew builds the masker for a set: the old engines only copied
// the values; the automaton is compiled once per plan or bundle.
func BenchmarkNew(b *testing.B) {
	for _, set := range benchSets() {
		b.Run(set.name, func(b *testing.B) {
			speedup(b, func() { newOldLogMasker(set.old) }, func() { redact.New(set.secrets) })
		})
	}
}
