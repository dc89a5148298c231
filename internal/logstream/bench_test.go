package logstream

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

// benchStream builds a recorded multiplexed stream of n lines of about size
// bytes, a tenth of them on stderr, and returns it with its line count.
func benchStream(n, size int, tty bool) []byte {
	var b bytes.Buffer
	payload := strings.Repeat("lorem ipsum \x1b[32mdolor\x1b[0m é ", size/30+1)[:size]
	for i := range n {
		line := ts1 + " " + payload + "\n"
		switch {
		case tty:
			b.WriteString(line)
		case size > 16384: // split like the daemon does
			for off := 0; off < len(payload); off += 16384 {
				end := min(off+16384, len(payload))
				chunk := ts1 + " " + payload[off:end]
				if end == len(payload) {
					chunk += "\n"
				}
				b.Write(frame(1, chunk))
			}
		case i%10 == 0:
			b.Write(frame(2, line))
		default:
			b.Write(frame(1, line))
		}
	}
	return b.Bytes()
}

// BenchmarkDecoder measures the demultiplexer and line assembler, including
// the string conversion the follower does per line, and reports MB/s of
// stream, lines/s and allocations per line.
func BenchmarkDecoder(b *testing.B) {
	cases := []struct {
		name  string
		n     int
		size  int
		tty   bool
		lines int
	}{
		{"100B", 20000, 100, false, 20000},
		{"1KB", 4000, 1000, false, 4000},
		{"20KB-split", 100, 20000, false, 100},
		{"100B-tty", 20000, 100, true, 20000},
	}
	for _, c := range cases {
		data := benchStream(c.n, c.size, c.tty)
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			var sink string
			for b.Loop() {
				d := NewDecoder(bytes.NewReader(data), c.tty, true)
				for {
					rec, err := d.Next()
					if err != nil {
						if !errors.Is(err, io.EOF) {
							b.Fatal(err)
						}
						break
					}
					sink = string(rec.Text)
				}
			}
			_ = sink
			perLine := float64(b.N) * float64(c.lines)
			b.ReportMetric(perLine/b.Elapsed().Seconds(), "lines/s")
			b.ReportMetric(float64(testing.AllocsPerRun(1, func() {
				d := NewDecoder(bytes.NewReader(data), c.tty, true)
				for {
					rec, err := d.Next()
					if err != nil {
						break
					}
					sink = string(rec.Text)
				}
			}))/float64(c.lines), "allocs/line")
		})
	}
}

// BenchmarkHubAppend measures storing a line with two subscribers attached.
func BenchmarkHubAppend(b *testing.B) {
	h := NewHub(HubConfig{MaxLines: 10000})
	s1, s2 := h.Subscribe(nil), h.Subscribe(nil)
	defer s1.Close()
	defer s2.Close()
	l := Line{Container: "c", Service: "s", Stream: Stdout, Text: "some line of text"}
	b.ReportAllocs()
	for b.Loop() {
		h.Append(l)
	}
}
