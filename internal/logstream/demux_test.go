package logstream

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/google/go-cmp/cmp"
)

// frame builds one stdcopy frame.
func frame(stream byte, payload string) []byte {
	b := make([]byte, 8, 8+len(payload))
	b[0] = stream
	binary.BigEndian.PutUint32(b[4:], uint32(len(payload)))
	return append(b, payload...)
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

const (
	ts1 = "2026-11-22T07:00:00.123456789Z"
	ts2 = "2026-11-22T07:00:01.000000001Z"
)

func mustTS(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

// rec is a Record with Text as a string, for comparison.
type rec struct {
	Stream    Stream
	TS        time.Time
	Text      string
	Truncated bool
}

func decodeAll(r io.Reader, tty, timestamps bool) ([]rec, error) {
	d := NewDecoder(r, tty, timestamps)
	var out []rec
	for {
		r, err := d.Next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = nil
			}
			return out, err
		}
		out = append(out, rec{r.Stream, r.TS, string(r.Text), r.Truncated})
	}
}

func TestDecoder(t *testing.T) {
	long := strings.Repeat("0123456789abcdef", 2500) // 40000 bytes: three 16 KiB chunks
	utf := "\x1b[31mrouge é€😀 fin\x1b[0m"
	cut := strings.Index(utf, "😀") + 2 // in the middle of the 4-byte rune
	huge := strings.Repeat("x", MaxLine+10)
	tests := []struct {
		name       string
		in         []byte
		tty        bool
		noTS       bool
		want       []rec
		wantErr    error // matched with errors.Is
		wantErrStr string
	}{
		{
			name: "stdout and stderr lines",
			in: cat(frame(1, ts1+" hello\n"), frame(2, ts2+" oops\n"),
				frame(1, ts2+" crlf\r\n"), frame(1, ts2+" \n")),
			want: []rec{
				{Stdout, mustTS(ts1), "hello", false},
				{Stderr, mustTS(ts2), "oops", false},
				{Stdout, mustTS(ts2), "crlf", false},
				{Stdout, mustTS(ts2), "", false},
			},
		},
		{
			name: "16 KiB chunks joined, stderr in between",
			in: cat(frame(1, ts1+" "+long[:16384]), frame(2, ts2+" between\n"),
				frame(1, ts1+" "+long[16384:32768]), frame(1, ts1+" "+long[32768:]+"\n"),
				frame(1, ts2+" next\n")),
			want: []rec{
				{Stderr, mustTS(ts2), "between", false},
				{Stdout, mustTS(ts1), long, false},
				{Stdout, mustTS(ts2), "next", false},
			},
		},
		{
			name: "one frame larger than the read buffer",
			in:   frame(1, ts1+" "+long+"\n"),
			want: []rec{{Stdout, mustTS(ts1), long, false}},
		},
		{
			name: "ANSI and UTF-8 split across frames",
			in:   cat(frame(1, ts1+" "+utf[:cut]), frame(1, ts1+" "+utf[cut:]+"\n")),
			want: []rec{{Stdout, mustTS(ts1), utf, false}},
		},
		{
			name: "several lines in one frame",
			in:   frame(1, ts1+" a\nb\nc"),
			want: []rec{{Stdout, mustTS(ts1), "a", false}, {Stdout, mustTS(ts1), "b", false}, {Stdout, mustTS(ts1), "c", false}},
		},
		{
			name: "last line without newline flushed at EOF",
			in:   cat(frame(1, ts1+" done\n"), frame(2, ts2+" bye")),
			want: []rec{{Stdout, mustTS(ts1), "done", false}, {Stderr, mustTS(ts2), "bye", false}},
		},
		{
			name: "last line without newline, then a new message",
			in:   cat(frame(1, ts1+" stopping"), frame(1, ts2+" started\n")),
			want: []rec{{Stdout, mustTS(ts1), "stopping", false}, {Stdout, mustTS(ts2), "started", false}},
		},
		{
			name: "system error frame",
			in:   cat(frame(1, ts1+" ok\n"), frame(3, "Error grabbing logs: unexpected EOF")),
			want: []rec{{Stdout, mustTS(ts1), "ok", false}, {System, time.Time{}, "Error grabbing logs: unexpected EOF", false}},
		},
		{
			name: "stdin frame reported as stdout",
			in:   frame(0, ts1+" in\n"),
			want: []rec{{Stdout, mustTS(ts1), "in", false}},
		},
		{
			name:    "truncated header",
			in:      cat(frame(1, ts1+" whole\n"), frame(2, ts1+" partial"), []byte{1, 0, 0}),
			want:    []rec{{Stdout, mustTS(ts1), "whole", false}, {Stderr, mustTS(ts1), "partial", false}},
			wantErr: io.ErrUnexpectedEOF, wantErrStr: "truncated frame header",
		},
		{
			name:    "truncated payload keeps what arrived",
			in:      frame(1, ts1+" abcdefghij\n")[:8+len(ts1)+5],
			want:    []rec{{Stdout, mustTS(ts1), "abcd", false}},
			wantErr: io.ErrUnexpectedEOF, wantErrStr: "truncated frame payload",
		},
		{
			name:    "absurd length rejected",
			in:      cat(frame(1, ts1+" fine\n"), []byte{1, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff}),
			want:    []rec{{Stdout, mustTS(ts1), "fine", false}},
			wantErr: ErrFrameTooLarge,
		},
		{
			name:       "unknown stream type",
			in:         frame(9, ts1+" ?\n"),
			wantErrStr: "unknown stream type 9",
		},
		{
			name: "over-long line truncated",
			in:   cat(frame(1, ts1+" "+huge[:MaxFrame-100]), frame(1, ts1+" "+huge[MaxFrame-100:]+"\n"), frame(1, ts2+" after\n")),
			want: []rec{{Stdout, mustTS(ts1), huge[:MaxLine], true}, {Stdout, mustTS(ts2), "after", false}},
		},
		{
			name: "tty raw stream",
			tty:  true,
			in:   []byte(ts1 + " one\r\n" + ts2 + " \x1b[1mtwo é\x1b[0m\r\n" + ts2 + " progress\r50%\r\n" + ts2 + " last"),
			want: []rec{
				{Stdout, mustTS(ts1), "one", false},
				{Stdout, mustTS(ts2), "\x1b[1mtwo é\x1b[0m", false},
				{Stdout, mustTS(ts2), "progress\r50%", false},
				{Stdout, mustTS(ts2), "last", false},
			},
		},
		{
			name: "tty line longer than the read buffer",
			tty:  true,
			in:   []byte(ts1 + " " + long + "\n" + ts2 + " x\n"),
			want: []rec{{Stdout, mustTS(ts1), long, false}, {Stdout, mustTS(ts2), "x", false}},
		},
		{
			name: "tty line cut by the daemon, timestamp inside",
			tty:  true,
			in:   []byte(ts1 + " " + long[:16384] + ts1 + " " + long[16384:32768] + ts1 + " " + long[32768:] + "\r\n" + ts2 + " x\n"),
			want: []rec{{Stdout, mustTS(ts1), long, false}, {Stdout, mustTS(ts2), "x", false}},
		},
		{
			name: "tty line of exactly the cut size",
			tty:  true,
			in:   []byte(ts1 + " " + long[:16384] + ts1 + " \n" + ts2 + " x"),
			want: []rec{{Stdout, mustTS(ts1), long[:16384], false}, {Stdout, mustTS(ts2), "x", false}},
		},
		{
			name: "tty without timestamps",
			tty:  true,
			noTS: true,
			in:   []byte("a\r\nb"),
			want: []rec{{Stdout, time.Time{}, "a", false}, {Stdout, time.Time{}, "b", false}},
		},
		{
			name: "without timestamps",
			noTS: true,
			in:   cat(frame(1, "plain "+ts1+"\n"), frame(2, "err")),
			want: []rec{{Stdout, time.Time{}, "plain " + ts1, false}, {Stderr, time.Time{}, "err", false}},
		},
		{
			name: "text that does not start with a timestamp is kept",
			in:   frame(1, "not-a-timestamp at all\n"),
			want: []rec{{Stdout, time.Time{}, "not-a-timestamp at all", false}},
		},
	}
	readers := map[string]func([]byte) io.Reader{
		"whole":    func(b []byte) io.Reader { return bytes.NewReader(b) },
		"one byte": func(b []byte) io.Reader { return iotest.OneByteReader(bytes.NewReader(b)) },
	}
	for _, tt := range tests {
		for rname, mk := range readers {
			if rname == "one byte" && len(tt.in) > 100000 {
				continue
			}
			t.Run(tt.name+"/"+rname, func(t *testing.T) {
				got, err := decodeAll(mk(tt.in), tt.tty, !tt.noTS)
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("records (-want +got):\n%s", diff)
				}
				switch {
				case tt.wantErr == nil && tt.wantErrStr == "":
					if err != nil {
						t.Errorf("err = %v, want nil", err)
					}
				case err == nil:
					t.Errorf("err = nil, want %v %q", tt.wantErr, tt.wantErrStr)
				case tt.wantErr != nil && !errors.Is(err, tt.wantErr), !strings.Contains(err.Error(), tt.wantErrStr):
					t.Errorf("err = %v, want %v %q", err, tt.wantErr, tt.wantErrStr)
				}
			})
		}
	}
}

func TestDecoderReaderError(t *testing.T) {
	boom := errors.New("boom")
	r := io.MultiReader(bytes.NewReader(cat(frame(1, ts1+" a\n"), frame(1, ts1+" partial"))), iotest.ErrReader(boom))
	got, err := decodeAll(r, false, true)
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want boom", err)
	}
	// The partial line is dropped: a re-opened stream replays it whole.
	if want := []rec{{Stdout, mustTS(ts1), "a", false}}; !cmp.Equal(want, got) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestParseTimestamp(t *testing.T) {
	tests := []struct {
		in   string
		want time.Time
		ok   bool
	}{
		{"2026-11-22T07:00:00.123456789Z", time.Date(2026, 11, 22, 7, 0, 0, 123456789, time.UTC), true},
		{"2026-11-22T07:00:00.1Z", time.Date(2026, 11, 22, 7, 0, 0, 100000000, time.UTC), true},
		{"2026-11-22T07:00:00Z", time.Date(2026, 11, 22, 7, 0, 0, 0, time.UTC), true},
		{"2026-11-22T08:00:00.5+01:00", time.Date(2026, 11, 22, 7, 0, 0, 500000000, time.UTC), true},
		{"2026-13-22T07:00:00Z", time.Time{}, false},
		{"2026-11-22T07:00:00.Z", time.Time{}, false},
		{"2026-11-22X07:00:00Z", time.Time{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, ok := parseTimestamp([]byte(tt.in))
			if ok != tt.ok || !got.Equal(tt.want) {
				t.Errorf("parseTimestamp = %v, %v; want %v, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

// FuzzDecoder feeds arbitrary bytes to both decoder modes: it must not
// panic, must end, and must respect MaxLine.
func FuzzDecoder(f *testing.F) {
	f.Add(cat(frame(1, ts1+" hello\n"), frame(2, ts2+" partial")), false)
	f.Add([]byte(ts1+" a\r\n"+ts2+" b"), true)
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 3, 'a', '\n', 'b', 2}, false)
	f.Fuzz(func(t *testing.T, in []byte, tty bool) {
		d := NewDecoder(bytes.NewReader(in), tty, true)
		for range len(in) + 10 {
			rec, err := d.Next()
			if err != nil {
				return
			}
			if len(rec.Text) > MaxLine {
				t.Fatalf("line of %d bytes", len(rec.Text))
			}
		}
		t.Fatalf("decoder returned more lines than input bytes")
	})
}
