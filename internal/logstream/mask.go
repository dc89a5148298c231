package logstream

import (
	"bytes"
	"slices"
)

// MinSecretLen is the shortest value a Masker masks. Shorter values (a port,
// "yes", a one-digit flag) would garble ordinary log text everywhere while
// hiding almost nothing, so they are ignored; real secrets are longer.
const MinSecretLen = 4

// MaskText is what a Masker writes in place of a secret.
const MaskText = "****"

// Masker replaces known secret values in log lines with MaskText. A nil
// Masker masks nothing. It is safe for concurrent use.
type Masker struct {
	secrets [][]byte // distinct, at least MinSecretLen bytes
}

// NewMasker returns a masker for the given secret values. Empty, short and
// repeated values are ignored. Secrets are matched as exact bytes; a secret
// that contains a newline cannot match, since lines are masked one by one.
func NewMasker(secrets []string) *Masker {
	m := &Masker{}
	for _, s := range secrets {
		if len(s) < MinSecretLen || slices.ContainsFunc(m.secrets, func(b []byte) bool { return string(b) == s }) {
			continue
		}
		m.secrets = append(m.secrets, []byte(s))
	}
	return m
}

// Mask returns line with every occurrence of every secret replaced by
// MaskText. Overlapping occurrences, and secrets that are substrings of
// others, are masked as one run so no fragment of either shows. When there is
// nothing to mask it returns line itself without allocating; otherwise a new
// slice.
func (m *Masker) Mask(line []byte) []byte {
	if m == nil {
		return line
	}
	// Fast path: bytes.Index is vectorised; with ~10 secrets almost every
	// line is checked in a few passes and returned untouched.
	first := -1
	for i, s := range m.secrets {
		if bytes.Contains(line, s) {
			first = i
			break
		}
	}
	if first < 0 {
		return line
	}
	// Mark covered bytes, then emit one MaskText per covered run.
	covered := make([]bool, len(line))
	for _, s := range m.secrets[first:] {
		for off := 0; ; {
			i := bytes.Index(line[off:], s)
			if i < 0 {
				break
			}
			for j := off + i; j < off+i+len(s); j++ {
				covered[j] = true
			}
			off += i + 1 // overlapping occurrences of the same secret
		}
	}
	out := make([]byte, 0, len(line))
	for i := 0; i < len(line); {
		if !covered[i] {
			out = append(out, line[i])
			i++
			continue
		}
		out = append(out, MaskText...)
		for i < len(line) && covered[i] {
			i++
		}
	}
	return out
}

// MaskString is Mask for a string.
func (m *Masker) MaskString(s string) string {
	if m == nil {
		return s
	}
	b := m.Mask([]byte(s))
	return string(b)
}
