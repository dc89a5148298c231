package logstore

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/carto-setup/carto-setup/internal/logstream"
	"github.com/carto-setup/carto-setup/internal/redact"
	"github.com/google/go-cmp/cmp"
)

var t0 = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

func at(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

func openStore(t *testing.T, cfg Config) *Store {
	t.Helper()
	if cfg.Dir == "" {
		cfg.Dir = filepath.Join(t.TempDir(), "logs")
	}
	s, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func line(service string, ms int, stream logstream.Stream, text string) logstream.Line {
	return logstream.Line{Container: "p-" + service + "-1", Service: service, Stream: stream, TS: at(ms), Text: text}
}

func texts(recs []Record) []string {
	var out []string
	for _, r := range recs {
		out = append(out, r.Service+"|"+r.Stream+"|"+r.Text)
	}
	return out
}

func TestQuery(t *testing.T) {
	t.Parallel()
	s := openStore(t, Config{})
	s.Append("api1", line("api", 0, logstream.Stdout, "api starting"), nil)
	s.Append("db1", line("db", 5, logstream.Stdout, "2026-12-01 10:00:00 LOG:  database system is ready"), nil)
	s.Append("api1", line("api", 10, logstream.Stderr, `{"level":"error","msg":"connect ECONNREFUSED"}`), nil)
	// stderr copied by another daemon goroutine: stored after, written before
	s.Append("api1", line("api", 7, logstream.Stdout, "\x1b[33mWARN\x1b[0m slow query"), nil)
	s.Append("", logstream.Line{Container: logstream.ProjectService, Service: logstream.ProjectService, Stream: logstream.Marker,
		Marker: logstream.MarkUpgrade, TS: at(12), Text: "upgrade to 2026.1 started"}, nil)
	s.Append("db1", logstream.Line{Container: "p-db-1", Service: "db", Stream: logstream.Marker, Marker: logstream.MarkFailed,
		TS: at(15), Text: "p-db-1 exited with code 1"}, nil)
	s.Append("web1", line("web", 20, logstream.Stdout, `level=info msg="GET /health 200"`), nil)

	all := []string{
		"api|stdout|api starting",
		"db|stdout|2026-12-01 10:00:00 LOG:  database system is ready",
		"api|stdout|\x1b[33mWARN\x1b[0m slow query",
		`api|stderr|{"level":"error","msg":"connect ECONNREFUSED"}`,
		"carto-setup|marker|upgrade to 2026.1 started",
		"db|marker|p-db-1 exited with code 1",
		`web|stdout|level=info msg="GET /health 200"`,
	}
	lv := func(names ...string) []Level {
		var out []Level
		for _, n := range names {
			l, err := ParseLevel(n)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, l)
		}
		return out
	}
	tests := []struct {
		name     string
		q        Query
		want     []string
		wantMore bool
	}{
		{"everything in time order", Query{}, all, false},
		{"one service keeps the project's markers", Query{Services: []string{"db"}}, []string{all[1], all[4], all[5]}, false},
		{"since inclusive, until exclusive", Query{Since: at(7), Until: at(15)}, all[2:5], false},
		{"regexp", Query{Grep: `ECONN|health \d+`}, []string{all[3], all[6]}, false},
		{"regexp ignores ANSI escapes", Query{Grep: `^WARN slow`}, []string{all[2]}, false},
		{"text ignores case", Query{Text: "DATABASE system"}, []string{all[1]}, false},
		{"levels", Query{Levels: lv("error", "warning")}, []string{all[2], all[3], all[5]}, false},
		{"info level words", Query{Levels: lv("info")}, []string{all[1], all[6]}, false},
		{"limit", Query{Limit: 2}, all[:2], true},
		{"offset and limit", Query{Offset: 2, Limit: 2}, all[2:4], true},
		{"newest", Query{Newest: true, Limit: 3}, all[4:], true},
		{"newest with offset", Query{Newest: true, Offset: 1, Limit: 3}, all[3:6], true},
		{"newest, all fit", Query{Newest: true, Limit: 30}, all, false},
		{"grep and service", Query{Services: []string{"api"}, Text: "slow"}, []string{all[2]}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := s.Query(tt.q)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, texts(res.Records)); diff != "" {
				t.Errorf("records (-want +got):\n%s", diff)
			}
			if res.More != tt.wantMore {
				t.Errorf("More = %v, want %v", res.More, tt.wantMore)
			}
		})
	}

	if _, err := s.Query(Query{Grep: "("}); err == nil {
		t.Error("a bad regular expression was accepted")
	}

	// The logs command's JSON contract.
	res, err := s.Query(Query{Services: []string{"web"}, Since: at(20)})
	if err != nil {
		t.Fatal(err)
	}
	js, _ := json.Marshal(res)
	want := `{"lines":[{"service":"web","container":"p-web-1","time":"2026-12-01T10:00:00.02Z","stream":"stdout","text":"level=info msg=\"GET /health 200\""}]}`
	if string(js) != want {
		t.Errorf("JSON\n%s\nwant\n%s", js, want)
	}

	res, err = s.Query(Query{Services: []string{"web"}, Grep: "nothing like this"})
	if js, _ := json.Marshal(res); err != nil || string(js) != `{"lines":[]}` {
		t.Errorf("empty result JSON %s, %v; want {\"lines\":[]}", js, err)
	}

	svcs, err := s.Services()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, sv := range svcs {
		got = append(got, fmt.Sprintf("%s lines=%d errors=%d container=%s newest=%s", sv.Service, sv.Lines, sv.Errors, sv.Container, sv.Newest.UTC().Format("05.000")))
	}
	wantSvcs := []string{
		"api lines=3 errors=1 container=p-api-1 newest=00.010",
		"db lines=2 errors=1 container=p-db-1 newest=00.015",
		"web lines=1 errors=0 container=p-web-1 newest=00.020",
	}
	if diff := cmp.Diff(wantSvcs, got); diff != "" {
		t.Errorf("services (-want +got):\n%s", diff)
	}
}

func TestOwnerOnly(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "logs")
	if err := os.Mkdir(dir, 0o755); err != nil { // made by someone else, too open
		t.Fatal(err)
	}
	old := syscall.Umask(0) // even a permissive umask must not widen anything
	s, err := Open(Config{Dir: dir})
	syscall.Umask(old)
	if err != nil {
		t.Fatal(err)
	}
	s.Append("c1", line("api", 0, logstream.Stdout, "hello"), nil)
	s.SetGeneration("api", 1, logstream.Generation{ID: "c1"})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	n := 0
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		info, _ := d.Info()
		want := fs.FileMode(0o600)
		if d.IsDir() {
			want = fs.ModeDir | 0o700
		}
		if info.Mode() != want {
			t.Errorf("%s has mode %v, want %v", path, info.Mode(), want)
		}
		n++
		return nil
	})
	if n < 4 { // dir, lock, timeline dir, segment
		t.Errorf("walked %d entries, want at least 4", n)
	}
}

func TestOneWriter(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "logs")
	s := openStore(t, Config{Dir: dir})
	if _, err := Open(Config{Dir: dir}); !errors.Is(err, ErrLocked) {
		t.Errorf("second Open = %v, want ErrLocked", err)
	}
	s.Close()
	s2, err := Open(Config{Dir: dir})
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	s2.Close()
}

// TestNoSecretOnDisk registers secrets and writes them in every place a
// text goes (lines long and short, stdout and stderr, markers, a secret
// learnt later), then greps every byte the store wrote.
func TestNoSecretOnDisk(t *testing.T) {
	t.Parallel()
	secrets := []string{"s3cr3t-Pa55w0rd", "AKIAEXAMPLEKEY12", `{"private_key":"-----BEGIN`, "tok_é€😀_utf8"}
	later := "learnt-later-secret"
	dir := filepath.Join(t.TempDir(), "logs")
	s := openStore(t, Config{Dir: dir, MaxBytes: 4 << 20, SegmentBytes: 256 << 10, Masker: logstream.NewMasker(secrets)})
	all := append(slices.Clone(secrets), later)
	n := 0
	for i := range 3000 {
		sec := secrets[i%len(secrets)]
		text := fmt.Sprintf("%d password=%s and again %s", i, sec, sec)
		if i%100 == 0 {
			text = strings.Repeat("x", 20000) + sec + strings.Repeat("y", 30000) // a long line, secret inside
		}
		stream := logstream.Stdout
		if i%3 == 0 {
			stream = logstream.Stderr
		}
		// A caller that masked with another masker (here one that knows
		// no secret) does not spare the store its own.
		var masked *logstream.Masker
		if i%5 == 0 {
			masked = logstream.NewMasker(nil)
		}
		s.Append("c1", line("api", i, stream, text), masked)
		n++
		if i == 1500 {
			s.SetMasker(logstream.NewMasker(all))
		}
		if i > 1500 {
			s.Append("c1", line("api", i, logstream.Stdout, "then "+later), nil)
			n++
		}
	}
	s.Append("", logstream.Line{Container: logstream.ProjectService, Service: logstream.ProjectService, Stream: logstream.Marker,
		Marker: logstream.MarkInstall, TS: at(9999), Text: "install with " + secrets[0]}, nil)
	n++
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	files := 0
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		files++
		for _, sec := range all {
			if strings.Contains(string(data), sec) {
				t.Errorf("%s holds the secret %q", path, sec)
			}
		}
		return nil
	})
	r, err := OpenReader(dir)
	if err != nil {
		t.Fatal(err)
	}
	res, err := r.Query(Query{Text: redact.Mask})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Records) != n || files < 3 {
		t.Errorf("%d masked records in %d files, want %d records: the secrets were not written masked", len(res.Records), files, n)
	}
}

// dirSize sums the sizes of the regular files under dir.
func dirSize(t *testing.T, dir string) int64 {
	var total int64
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if info, err := d.Info(); err == nil {
				total += info.Size()
			}
		}
		return nil
	})
	return total
}

func TestCapUnderFlood(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "logs")
	const maxBytes = 1 << 20
	s := openStore(t, Config{Dir: dir, MaxBytes: maxBytes, SegmentBytes: 128 << 10})
	var written int64
	last := 0
	for i := 0; written < 40<<20; i++ {
		text := fmt.Sprintf("flood %d %s", i, strings.Repeat("z", i%500))
		if i%997 == 0 {
			text = fmt.Sprintf("flood %d %s", i, strings.Repeat("L", 200_000)) // cut to a quarter segment
		}
		s.Append(fmt.Sprintf("c%d", i%3), logstream.Line{Container: fmt.Sprintf("p-api-%d", i%3), Service: "api",
			Stream: logstream.Stdout, TS: at(i), Text: text}, nil)
		written += int64(len(text))
		last = i
		if i%5000 == 0 {
			s.Flush()
			if got := dirSize(t, filepath.Join(dir, "api")); got > maxBytes {
				t.Fatalf("after %d MiB written, the timeline holds %d bytes, over its cap of %d", written>>20, got, maxBytes)
			}
		}
	}
	s.Flush()
	if got := dirSize(t, filepath.Join(dir, "api")); got > maxBytes || got < maxBytes/2 {
		t.Errorf("the timeline holds %d bytes, want between half its cap and its cap (%d)", got, maxBytes)
	}
	res, err := s.Query(Query{Newest: true, Limit: 1})
	if err != nil || len(res.Records) != 1 || !strings.HasPrefix(res.Records[0].Text, fmt.Sprintf("flood %d ", last)) {
		t.Fatalf("newest record %+v, %v; want line %d", res.Records, err, last)
	}
	all, err := s.Query(Query{})
	if err != nil {
		t.Fatal(err)
	}
	svcs, _ := s.Services()
	if len(svcs) != 1 || svcs[0].Lines != int64(len(all.Records)) || svcs[0].Bytes > maxBytes {
		t.Errorf("services %+v, query has %d records", svcs, len(all.Records))
	}
	// What is kept is the newest part, without holes.
	prev := -1
	for _, r := range all.Records {
		var i int
		fmt.Sscanf(r.Text, "flood %d", &i)
		if prev >= 0 && i != prev+1 {
			t.Fatalf("line %d follows line %d", i, prev)
		}
		prev = i
	}
	if prev != last {
		t.Errorf("last kept line %d, want %d", prev, last)
	}
}

func TestReopenKeepsPositionsGenerationsAndCounts(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "logs")
	s := openStore(t, Config{Dir: dir, MaxBytes: 1 << 20, SegmentBytes: 64 << 10})
	g := logstream.Generation{ID: "c2", Name: "p-api-1", Image: "api:2", ImageID: "sha256:2", Created: at(1), StartedAt: at(2)}
	for i := range 2000 { // several segments
		s.Append("c1", line("api", i, logstream.Stdout, fmt.Sprintf("line %d ERROR %s", i, strings.Repeat("p", 100))), nil)
		if i%2 == 0 {
			s.Append("c1", line("api", i, logstream.Stderr, "err"), nil)
		}
		if i == 100 {
			s.SetGeneration("api", 1, g)
		}
	}
	s.Append("c1", line("api", 1999, logstream.Stdout, "same ts again"), nil)
	want, _ := s.Position("c1")
	before, _ := s.Services()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := openStore(t, Config{Dir: dir, MaxBytes: 1 << 20, SegmentBytes: 64 << 10})
	got, ok := s2.Position("c1")
	if !ok || got != want {
		t.Errorf("position after reopen %v (%v), want %v", got, ok, want)
	}
	if want[logstream.Stdout] != (logstream.StreamPos{TS: at(1999), N: 2}) || want[logstream.Stderr] != (logstream.StreamPos{TS: at(1998), N: 1}) {
		t.Errorf("position %+v", want)
	}
	if gg, ok := s2.Generation("api", 1); !ok || gg != g {
		t.Errorf("generation after reopen %+v, %v", gg, ok)
	}
	s2.Append("c1", line("api", 3000, logstream.Stdout, "after reopen"), nil)
	after, _ := s2.Services()
	if len(before) != 1 || len(after) != 1 || after[0].Lines != before[0].Lines+1 || after[0].Errors != before[0].Errors {
		t.Errorf("services before %+v, after one more line %+v", before, after)
	}
}

// TestTornTail appends the beginning of a record, as a crash in the middle
// of a write leaves it: readers ignore it and the next writer cuts it off.
func TestTornTail(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "logs")
	s := openStore(t, Config{Dir: dir})
	for i := range 10 {
		s.Append("c1", line("api", i, logstream.Stdout, fmt.Sprint("line ", i)), nil)
	}
	s.Close()
	segs, _ := listSegments(filepath.Join(dir, "api"))
	last := segs[len(segs)-1].path
	good, _ := os.Stat(last)
	var rec []byte
	rec, start := beginRecord(rec, recLine)
	rec = append(rec, []byte("0123456789 a line cut short by a crash")...)
	endRecord(rec, start)
	for _, torn := range [][]byte{rec[:5], rec[:len(rec)-3], append(rec[:len(rec):len(rec)], 'x')} {
		f, _ := os.OpenFile(last, os.O_WRONLY|os.O_APPEND, 0)
		f.Write(torn)
		f.Close()
		if len(torn) == len(rec)+1 { // a whole record and a stray byte: the record is valid
			os.Truncate(last, good.Size())
			f, _ := os.OpenFile(last, os.O_WRONLY|os.O_APPEND, 0)
			f.Write(rec[:len(rec)-1])
			f.Write([]byte{rec[len(rec)-1] ^ 0xff}) // damaged: checksum fails
			f.Close()
		}
		r, _ := OpenReader(dir)
		res, err := r.Query(Query{})
		if err != nil || len(res.Records) != 10 {
			t.Fatalf("reader with a torn tail: %d records, %v", len(res.Records), err)
		}
		s2, err := Open(Config{Dir: dir})
		if err != nil {
			t.Fatal(err)
		}
		if info, _ := os.Stat(last); info.Size() != good.Size() {
			t.Errorf("Open left %d bytes, want the %d of whole records", info.Size(), good.Size())
		}
		s2.Append("c1", line("api", 100, logstream.Stdout, "after"), nil)
		res, err = s2.Query(Query{})
		s2.Close()
		if err != nil || len(res.Records) != 11 || res.Records[10].Text != "after" {
			t.Fatalf("after recovery: %v, %v", texts(res.Records), err)
		}
		os.Truncate(last, good.Size())
	}
}

func TestDetectLevel(t *testing.T) {
	t.Parallel()
	tests := []struct {
		text string
		want Level
	}{
		{`{"level":"error","msg":"x"}`, LevelError},
		{`{"time":1,"level":30,"msg":"pino info"}`, LevelInfo},
		{`{"level":50}`, LevelError},
		{`{ "severity" : "WARNING" }`, LevelWarn},
		{`{"lvl":"dbg"}`, LevelDebug},
		{`time=2026 level=warn msg=x`, LevelWarn},
		{`ts=1 lvl="fatal"`, LevelFatal},
		{`2026-12-01T10:00:00Z ERROR something failed`, LevelError},
		{`2026/12/01 10:00:00 [error] 7#7: *1 connect() failed`, LevelError},
		{`[Info] ready`, LevelInfo},
		{`<warn> disk`, LevelWarn},
		{`LOG:  database system is ready to accept connections`, LevelInfo},
		{`FATAL:  password authentication failed`, LevelFatal},
		{"\x1b[31mERROR\x1b[0m red", LevelError},
		{`INFO:root:started`, LevelInfo},
		{`W: WARNING deprecated`, LevelWarn},
		{`no error here, all fine`, LevelNone},
		{`GET /health 200`, LevelNone},
		{`ERRORS_TOTAL=3`, LevelNone},
		{`a LOG line`, LevelNone},
		{``, LevelNone},
	}
	for _, tt := range tests {
		if got := DetectLevel([]byte(tt.text)); got != tt.want {
			t.Errorf("DetectLevel(%q) = %v, want %v", tt.text, got, tt.want)
		}
	}
	for _, s := range []string{"warning", "ERR", "critical"} {
		if _, err := ParseLevel(s); err != nil {
			t.Errorf("ParseLevel(%q): %v", s, err)
		}
	}
	if _, err := ParseLevel("loud"); err == nil {
		t.Error("ParseLevel accepted loud")
	}
}

func BenchmarkDetectLevel(b *testing.B) {
	for name, line := range map[string]string{
		"plain":  "123456 1733000000000000000 1733000000 lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod",
		"level":  "2026-12-01T10:00:00.123Z INFO  request served path=/api/v1/maps status=200 ms=12",
		"json":   `{"level":30,"time":1733000000000,"pid":1,"hostname":"api","msg":"request served","path":"/api/v1/maps"}`,
		"logfmt": `time=2026-12-01T10:00:00Z level=warn msg="slow query" ms=1200`,
	} {
		b.Run(name, func(b *testing.B) {
			p := []byte(line)
			for b.Loop() {
				DetectLevel(p)
			}
		})
	}
}

func BenchmarkAppend(b *testing.B) {
	s, err := Open(Config{Dir: b.TempDir(), Masker: logstream.NewMasker([]string{"aaa-secret-value", "bbb-secret-value"})})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	l := line("api", 0, logstream.Stdout, "123456 1733000000000000000 1733000000 lorem ipsum dolor sit amet consectetur adipiscing elit sed do")
	b.ReportAllocs()
	for b.Loop() {
		s.Append("c1", l, nil)
	}
}
