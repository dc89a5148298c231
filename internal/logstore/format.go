package logstore

import (
	"bufio"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/carto-setup/carto-setup/internal/logstream"
)

// A segment file is segMagic followed by records. Each record is a 4-byte
// little-endian payload length, the payload's CRC-32C, and the payload,
// whose first byte is its type. The first record of a segment is a state
// record, so each segment can be read on its own.
const (
	segMagic  = "CSLOG01\n"
	segSuffix = ".seg"
	recHeader = 8
	// maxPayload bounds what a reader accepts as a record length; a
	// larger value is a torn or damaged header.
	maxPayload = 8 << 20
)

// Record types.
const (
	recLine       byte = 1 // a line or marker
	recState      byte = 2 // JSON segState, first in every segment
	recContainer  byte = 3 // a container's index, ID and name
	recGeneration byte = 4 // a replica's generation, JSON
)

// Flags of a line record.
const (
	flagTruncated  byte = 1 << 0
	flagInlineName byte = 1 << 1 // the container name follows, not its index
	flagNoTS       byte = 1 << 2 // the daemon gave no timestamp: the time is the arrival's
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// errTorn reports a record that is incomplete or fails its checksum: the
// end of what a crashed or still running writer has written.
var errTorn = errors.New("logstore: torn record")

// segState is the state record that opens a segment: enough to read the
// segment alone and to go on counting and resuming from it.
type segState struct {
	Service string `json:"service"`
	// Lines and Errors count the records (lines and markers) and the
	// error-level ones in the timeline before this segment, since the
	// timeline began.
	Lines     int64     `json:"lines"`
	Errors    int64     `json:"errors"`
	LastError time.Time `json:"last_error,omitzero"`
	// Before is the newest record time of every earlier segment: a query
	// from a later time can skip them.
	Before      time.Time                    `json:"before,omitzero"`
	Containers  []containerState             `json:"containers,omitempty"`
	Generations map[int]logstream.Generation `json:"generations,omitempty"`
}

// containerState is a container a timeline's lines refer to by index, with
// how far its log is kept.
type containerState struct {
	Idx  uint64             `json:"idx"`
	ID   string             `json:"id"`
	Name string             `json:"name"`
	Pos  logstream.Position `json:"pos"`
}

// beginRecord appends a record header and the type byte to buf, and
// returns buf and where the record starts; endRecord fills the header in.
func beginRecord(buf []byte, typ byte) ([]byte, int) {
	start := len(buf)
	return append(buf, 0, 0, 0, 0, 0, 0, 0, 0, typ), start
}

func endRecord(buf []byte, start int) {
	payload := buf[start+recHeader:]
	binary.LittleEndian.PutUint32(buf[start:], uint32(len(payload)))
	binary.LittleEndian.PutUint32(buf[start+4:], crc32.Checksum(payload, castagnoli))
}

// lineRec is a decoded line record; its slices point into the reader's
// buffer.
type lineRec struct {
	stream logstream.Stream
	flags  byte
	level  Level
	ts     int64 // Unix ns; 0 without a timestamp
	idx    uint64
	name   []byte // with flagInlineName
	marker []byte
	text   []byte
}

// levelOffset is where a line record's level byte is, from the record
// start.
const levelOffset = recHeader + 3

func decodeLine(p []byte) (lineRec, error) {
	var r lineRec
	if len(p) < 1+3+8 {
		return r, errors.New("logstore: short line record")
	}
	r.stream, r.flags, r.level = logstream.Stream(p[1]), p[2], Level(p[3])
	r.ts = int64(binary.LittleEndian.Uint64(p[4:]))
	p = p[12:]
	var err error
	if r.flags&flagInlineName != 0 {
		if r.name, p, err = uvarintBytes(p); err != nil {
			return r, err
		}
	} else {
		v, n := binary.Uvarint(p)
		if n <= 0 {
			return r, errors.New("logstore: bad container index")
		}
		r.idx, p = v, p[n:]
	}
	if r.marker, p, err = uvarintBytes(p); err != nil {
		return r, err
	}
	r.text = p
	return r, nil
}

func uvarintBytes(p []byte) ([]byte, []byte, error) {
	v, n := binary.Uvarint(p)
	if n <= 0 || v > uint64(len(p)-n) {
		return nil, p, errors.New("logstore: bad length")
	}
	return p[n : n+int(v)], p[n+int(v):], nil
}

func appendContainer(buf []byte, idx uint64, id, name string) []byte {
	buf, start := beginRecord(buf, recContainer)
	buf = binary.AppendUvarint(buf, idx)
	buf = binary.AppendUvarint(buf, uint64(len(id)))
	buf = append(buf, id...)
	buf = append(buf, name...)
	endRecord(buf, start)
	return buf
}

func decodeContainer(p []byte) (idx uint64, id, name string, err error) {
	v, n := binary.Uvarint(p[1:])
	if n <= 0 {
		return 0, "", "", errors.New("logstore: bad container record")
	}
	idb, rest, err := uvarintBytes(p[1+n:])
	if err != nil {
		return 0, "", "", err
	}
	return v, string(idb), string(rest), nil
}

func appendGeneration(buf []byte, number int, js []byte) []byte {
	buf, start := beginRecord(buf, recGeneration)
	buf = binary.AppendUvarint(buf, uint64(number))
	buf = append(buf, js...)
	endRecord(buf, start)
	return buf
}

func decodeGeneration(p []byte) (int, []byte, error) {
	v, n := binary.Uvarint(p[1:])
	if n <= 0 {
		return 0, nil, errors.New("logstore: bad generation record")
	}
	return int(v), p[1+n:], nil
}

// segReader reads the records of one segment in order.
type segReader struct {
	f   *os.File
	br  *bufio.Reader
	off int64 // end of the last whole record
	buf []byte
}

// openSegment opens a segment and checks its magic. A segment removed by
// the writer's rotation meanwhile reports os.ErrNotExist.
func openSegment(path string) (*segReader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	return newSegReader(f)
}

// newSegReader reads an open segment file, from its start, and checks its
// magic; it closes f if that fails.
func newSegReader(f *os.File) (*segReader, error) {
	r := &segReader{f: f, br: bufio.NewReaderSize(f, 64<<10)}
	var magic [len(segMagic)]byte
	if _, err := io.ReadFull(r.br, magic[:]); err != nil || string(magic[:]) != segMagic {
		f.Close()
		return nil, fmt.Errorf("%w: %s has no segment header", errTorn, f.Name())
	}
	r.off = int64(len(segMagic))
	return r, nil
}

// next returns the next record's payload, valid until the following call;
// io.EOF at a clean end, errTorn at an incomplete or damaged record.
func (r *segReader) next() ([]byte, error) {
	var hdr [recHeader]byte
	n, err := io.ReadFull(r.br, hdr[:])
	if err != nil {
		if n == 0 && errors.Is(err, io.EOF) {
			return nil, io.EOF
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, errTorn
		}
		return nil, err
	}
	size := binary.LittleEndian.Uint32(hdr[:])
	if size == 0 || size > maxPayload {
		return nil, errTorn
	}
	if cap(r.buf) < int(size) {
		r.buf = make([]byte, size)
	}
	p := r.buf[:size]
	if _, err := io.ReadFull(r.br, p); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, errTorn
		}
		return nil, err
	}
	if crc32.Checksum(p, castagnoli) != binary.LittleEndian.Uint32(hdr[4:]) {
		return nil, errTorn
	}
	r.off += int64(recHeader) + int64(size)
	return p, nil
}

func (r *segReader) close() { r.f.Close() }

// segment is one segment file of a timeline.
type segment struct {
	seq  uint64
	path string
	size int64
}

func segName(seq uint64) string { return fmt.Sprintf("%016d%s", seq, segSuffix) }

// listSegments returns a timeline's segments, oldest first.
func listSegments(dir string) ([]segment, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var segs []segment
	for _, e := range ents {
		name := e.Name()
		if !strings.HasSuffix(name, segSuffix) || !e.Type().IsRegular() {
			continue
		}
		seq, err := strconv.ParseUint(strings.TrimSuffix(name, segSuffix), 10, 64)
		if err != nil {
			continue
		}
		s := segment{seq: seq, path: filepath.Join(dir, name)}
		if info, err := e.Info(); err == nil {
			s.size = info.Size()
		}
		segs = append(segs, s)
	}
	slices.SortFunc(segs, func(a, b segment) int { return cmp.Compare(a.seq, b.seq) })
	return segs, nil
}
