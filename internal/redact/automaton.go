package redact

// automaton is an Aho-Corasick string matcher, so that a scan costs the
// same whatever the number of secrets. States near the root, where clean
// text spends its time, have a full row of transitions (one table look-up
// per byte); deeper states, one per byte of every long secret (a PEM key
// has thousands), keep only their own edges and a failure link, which
// keeps a redactor for an install's secrets to a few hundred kilobytes.
// Bytes that occur in no pattern share class 0.
//
// Besides the exact secret forms it holds the roots of the secret words in
// every letter case ("pass", "Pass", "PASS", …): a line in which no root
// ends cannot carry a secret-looking key name, so the same single pass
// tells whether the key-name rule needs to look at the line at all.
type automaton struct {
	class  [256]uint8
	stride int
	dense  int32    // states [0, dense) have a full row in next
	next   []uint32 // state*stride + class → target state | its flags<<flagShift
	// Sparse states: edges[edgeAt[s]:edgeAt[s+1]] sorted by class.
	edgeAt    []int32
	edgeClass []uint8
	edgeTo    []int32
	fail      []int32
	term      []int32 // state → form ending exactly here, or -1
	dict      []int32 // state → nearest proper suffix state with a term, or -1
	flag      []uint8 // state → flagOutput | flagKeyword
	lens      []int32 // form → length in bytes
}

// denseDepth is the depth below which states get a full transition row.
const denseDepth = 4

const (
	flagOutput  = 1 << iota // a form ends here or at a suffix
	flagKeyword             // a keyword root ends here or at a suffix
)

// flagShift places a target's flags above its state number in a dense
// transition, so that the scan of clean text reads one table per byte.
const (
	flagShift = 30
	stateMask = 1<<flagShift - 1
)

// keywordRoots are the roots every secret word of the key-name rule
// contains (see secretWord), matched in any letter case.
var keywordRoots = []string{"pass", "pwd", "secret", "token", "key", "cred", "priv", "auth", "cookie"}

// newAutomaton compiles the forms (exact, case-sensitive) and the keyword
// roots (any case).
func newAutomaton(forms []string) *automaton {
	a := &automaton{}
	var patterns []string
	patterns = append(patterns, forms...)
	for _, root := range keywordRoots {
		patterns = append(patterns, caseVariants(root)...)
	}

	// Byte classes: one per byte used by some pattern, 0 for the rest.
	var used [256]bool
	for _, p := range patterns {
		for i := 0; i < len(p); i++ {
			used[p[i]] = true
		}
	}
	classes := 1
	for b := range 256 {
		if used[b] {
			a.class[b] = uint8(classes)
			classes++
		}
	}
	a.stride = classes

	// The trie, with provisional state numbers; children as sibling lists
	// (deep states have one child), the root's in a table.
	total := 1
	for _, p := range patterns {
		total += len(p)
	}
	var rootChild [256]int32
	depth := append(make([]int32, 0, total), 0)
	term := append(make([]int32, 0, total), -1)
	kwEnd := append(make([]bool, 0, total), false)
	first := append(make([]int32, 0, total), -1)   // state → first child
	sibling := append(make([]int32, 0, total), -1) // state → next child of its parent
	label := append(make([]uint8, 0, total), 0)    // state → class of the edge into it
	for i, p := range patterns {
		s := int32(0)
		for j := 0; j < len(p); j++ {
			cl := a.class[p[j]]
			c := int32(-1)
			if s == 0 {
				if rootChild[cl] > 0 {
					c = rootChild[cl]
				}
			} else {
				for k := first[s]; k >= 0; k = sibling[k] {
					if label[k] == cl {
						c = k
						break
					}
				}
			}
			if c < 0 {
				c = int32(len(depth))
				depth = append(depth, depth[s]+1)
				term = append(term, -1)
				kwEnd = append(kwEnd, false)
				label = append(label, cl)
				first = append(first, -1)
				sibling = append(sibling, first[s])
				first[s] = c
				if s == 0 {
					rootChild[cl] = c
				}
			}
			s = c
		}
		if i < len(forms) {
			term[s] = int32(i)
			a.lens = append(a.lens, int32(len(p)))
		} else {
			kwEnd[s] = true
		}
	}
	n := len(depth)

	// Number the states breadth-first, so that the dense ones come first
	// and every failure link points to a lower number.
	order := make([]int32, 0, n)
	order = append(order, 0)
	for i := 0; i < len(order); i++ {
		for k := first[order[i]]; k >= 0; k = sibling[k] {
			order = append(order, k)
		}
	}
	num := make([]int32, n)
	for i, s := range order {
		num[s] = int32(i)
		if depth[s] < denseDepth {
			a.dense = int32(i) + 1
		}
	}

	a.term = make([]int32, n)
	a.dict = make([]int32, n)
	a.fail = make([]int32, n)
	a.flag = make([]uint8, n)
	next := make([]int32, int(a.dense)*a.stride)
	a.edgeAt = make([]int32, n+1)
	kw := make([]bool, n)
	for i, s := range order {
		a.term[i] = term[s]
		kw[i] = kwEnd[s]
		if int32(i) >= a.dense {
			for k := first[s]; k >= 0; k = sibling[k] {
				a.edgeClass = append(a.edgeClass, label[k])
				a.edgeTo = append(a.edgeTo, num[k])
			}
		}
		a.edgeAt[i+1] = int32(len(a.edgeClass))
	}
	a.dict[0] = -1
	for i, s := range order {
		si := int32(i)
		for k := first[s]; k >= 0; k = sibling[k] {
			child := num[k]
			f := int32(0)
			if si != 0 {
				f = a.stepWith(next, a.fail[si], label[k])
			}
			a.fail[child] = f
			if a.term[f] >= 0 {
				a.dict[child] = f
			} else {
				a.dict[child] = a.dict[f]
			}
			kw[child] = kw[child] || kw[f]
		}
		if si < a.dense {
			row := next[int(si)*a.stride : int(si+1)*a.stride]
			for c := range row {
				row[c] = -1
			}
			for k := first[s]; k >= 0; k = sibling[k] {
				row[label[k]] = num[k]
			}
			for c := range row {
				if row[c] < 0 {
					if si == 0 {
						row[c] = 0
					} else {
						row[c] = next[int(a.fail[si])*a.stride+c]
					}
				}
			}
		}
	}
	for s := range n {
		if a.term[s] >= 0 || a.dict[s] >= 0 {
			a.flag[s] |= flagOutput
		}
		if kw[s] {
			a.flag[s] |= flagKeyword
		}
	}
	a.next = make([]uint32, len(next))
	for i, t := range next {
		a.next[i] = uint32(t) | uint32(a.flag[t])<<flagShift
	}
	return a
}

// step returns the state after reading a byte of class c in the sparse
// state s.
func (a *automaton) step(s int32, c uint8) int32 {
	s, ok := a.sparseStep(s, c)
	if ok {
		return s
	}
	return int32(a.next[int(s)*a.stride+int(c)] & stateMask)
}

// stepWith is step while the dense table is still being built.
func (a *automaton) stepWith(next []int32, s int32, c uint8) int32 {
	s, ok := a.sparseStep(s, c)
	if ok {
		return s
	}
	return next[int(s)*a.stride+int(c)]
}

// sparseStep follows the edges and failure links of sparse states; it
// returns the target and true, or the dense state to look up and false.
func (a *automaton) sparseStep(s int32, c uint8) (int32, bool) {
	for s >= a.dense {
		lo, hi := a.edgeAt[s], a.edgeAt[s+1]
		for i := lo; i < hi; i++ {
			if a.edgeClass[i] == c {
				return a.edgeTo[i], true
			}
		}
		s = a.fail[s]
	}
	return s, false
}

// caseVariants returns s in every combination of letter cases.
func caseVariants(s string) []string {
	out := []string{""}
	for i := 0; i < len(s); i++ {
		c := s[i]
		lo, up := c|0x20, c&^0x20
		var next []string
		for _, p := range out {
			next = append(next, p+string(lo))
			if up != lo {
				next = append(next, p+string(up))
			}
		}
		out = next
	}
	return out
}

// match is one occurrence of a form: data[start:end].
type match struct {
	start, end int
	form       int32
}

// scan runs the automaton over data. With all set it appends every
// occurrence to dst (a short form only where it stands alone); otherwise it
// stops at the first one. It also reports whether one was found and whether
// a keyword root occurs (only up to the first match when all is unset).
func (a *automaton) scan(data []byte, dst []match, all bool) ([]match, bool, bool) {
	s := int32(0)
	found, kw := false, false
	next, flag, class, stride, dense := a.next, a.flag, &a.class, a.stride, a.dense
	for i, b := range data {
		c := class[b]
		var fl uint8
		if s < dense {
			e := next[int(s)*stride+int(c)]
			s, fl = int32(e&stateMask), uint8(e>>flagShift)
		} else {
			s = a.step(s, c)
			fl = flag[s]
		}
		if fl == 0 {
			continue
		}
		if fl&flagKeyword != 0 {
			kw = true
		}
		if fl&flagOutput == 0 {
			continue
		}
		for t := s; t >= 0; t = a.dict[t] {
			f := a.term[t]
			if f < 0 {
				continue
			}
			start := i + 1 - int(a.lens[f])
			if !standsAlone(data, start, i+1) {
				continue
			}
			found = true
			if !all {
				return dst, true, true
			}
			dst = append(dst, match{start: start, end: i + 1, form: f})
		}
	}
	return dst, found, kw
}
