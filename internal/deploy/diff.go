package deploy

import (
	"fmt"
	"strings"

	"github.com/carto-setup/carto-setup/internal/redact"
)

// DiffKind says what a DiffLine is.
type DiffKind string

// The kinds of diff lines: a hunk header, an unchanged context line, a
// removed line and an added line.
const (
	DiffHunk    DiffKind = "@"
	DiffContext DiffKind = " "
	DiffRemoved DiffKind = "-"
	DiffAdded   DiffKind = "+"
)

// DiffLine is one line of the customer.env change, with secrets masked.
// Old and New are 1-based line numbers in the old and new file (0 when the
// line is not in that file).
type DiffLine struct {
	Kind DiffKind
	Old  int
	New  int
	Text string
}

// String renders the line as in a unified diff.
func (d DiffLine) String() string {
	if d.Kind == DiffHunk {
		return d.Text
	}
	return string(d.Kind) + d.Text
}

// diffContext is how many unchanged lines surround each change.
const diffContext = 3

// lineDiff returns the unified diff of old and new, every line masked by r
// (registered values and the key-name rule).
func lineDiff(oldText, newText []byte, r *redact.Redactor) []DiffLine {
	a, b := splitLines(string(oldText)), splitLines(string(newText))
	ops := diffOps(a, b)
	if len(ops) == 0 {
		return nil
	}
	// Group changes into hunks with context.
	var out []DiffLine
	i := 0
	for i < len(ops) {
		if ops[i].kind == DiffContext {
			i++
			continue
		}
		start := max(0, i-diffContext)
		end := i
		for {
			for end < len(ops) && ops[end].kind != DiffContext {
				end++
			}
			// Extend over a short run of context to the next change.
			next := end
			for next < len(ops) && ops[next].kind == DiffContext {
				next++
			}
			if next < len(ops) && next-end <= 2*diffContext {
				end = next
				continue
			}
			end = min(len(ops), end+diffContext)
			break
		}
		hunk := ops[start:end]
		oldStart, newStart, oldN, newN := 0, 0, 0, 0
		for _, op := range hunk {
			if op.kind != DiffAdded {
				if oldStart == 0 {
					oldStart = op.old
				}
				oldN++
			}
			if op.kind != DiffRemoved {
				if newStart == 0 {
					newStart = op.new
				}
				newN++
			}
		}
		out = append(out, DiffLine{Kind: DiffHunk, Text: fmt.Sprintf("@@ -%d,%d +%d,%d @@", oldStart, oldN, newStart, newN)})
		for _, op := range hunk {
			out = append(out, DiffLine{Kind: op.kind, Old: op.old, New: op.new, Text: r.MaskString(op.text)})
		}
		i = end
	}
	return out
}

type diffOp struct {
	kind     DiffKind
	old, new int
	text     string
}

// diffOps aligns a and b on a longest common subsequence of lines, after
// trimming the common prefix and suffix (customer.env edits are few and
// scattered, so what is left is small).
func diffOps(a, b []string) []diffOp {
	pre := 0
	for pre < len(a) && pre < len(b) && a[pre] == b[pre] {
		pre++
	}
	suf := 0
	for suf < len(a)-pre && suf < len(b)-pre && a[len(a)-1-suf] == b[len(b)-1-suf] {
		suf++
	}
	ma, mb := a[pre:len(a)-suf], b[pre:len(b)-suf]
	if len(ma) == 0 && len(mb) == 0 {
		return nil
	}
	var ops []diffOp
	for k := range pre {
		ops = append(ops, diffOp{DiffContext, k + 1, k + 1, a[k]})
	}
	n, m := len(ma), len(mb)
	if n*m > 4<<20 {
		// Too large to align: show it as replaced.
		for k, s := range ma {
			ops = append(ops, diffOp{DiffRemoved, pre + k + 1, 0, s})
		}
		for k, s := range mb {
			ops = append(ops, diffOp{DiffAdded, 0, pre + k + 1, s})
		}
	} else {
		// lcs[i][j] is the LCS length of ma[i:] and mb[j:].
		lcs := make([][]int, n+1)
		for i := range lcs {
			lcs[i] = make([]int, m+1)
		}
		for i := n - 1; i >= 0; i-- {
			for j := m - 1; j >= 0; j-- {
				if ma[i] == mb[j] {
					lcs[i][j] = lcs[i+1][j+1] + 1
				} else {
					lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
				}
			}
		}
		i, j := 0, 0
		for i < n || j < m {
			switch {
			case i < n && j < m && ma[i] == mb[j]:
				ops = append(ops, diffOp{DiffContext, pre + i + 1, pre + j + 1, ma[i]})
				i++
				j++
			case j < m && (i == n || lcs[i][j+1] > lcs[i+1][j]):
				ops = append(ops, diffOp{DiffAdded, 0, pre + j + 1, mb[j]})
				j++
			default:
				ops = append(ops, diffOp{DiffRemoved, pre + i + 1, 0, ma[i]})
				i++
			}
		}
	}
	for k := range suf {
		ops = append(ops, diffOp{DiffContext, len(a) - suf + k + 1, len(b) - suf + k + 1, a[len(a)-suf+k]})
	}
	return ops
}

// splitLines splits text into lines without their line breaks; a final
// line break does not start another line.
func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	s = strings.TrimSuffix(s, "\n")
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimSuffix(l, "\r")
	}
	return lines
}
