package redact

// automaton is an Aho-Corasick string matcher compiled into a full DFA over
// byte classes, so that a scan is one table look-up per byte whatever the
// number of secrets. Bytes that occur in no pattern share class 0, which
// keeps the table small (secrets are mostly base64 and punctuation).
//
// Besides the exact secret forms it holds the roots of the secret words in
// every letter case ("pass", "Pass", "PASS", …): a line in which no root
// ends cannot carry a secret-looking key name, so the same single pass
// tells whether the key-name rule needs to look at the line at all.
type automaton struct {
	class  [256]uint8
	stride int
	next   []int32 // state*stride + class → state
	term   []int32 // state → form ending exactly here, or -1
	dict   []int32 // state → nearest proper suffix state with a term, or -1
	flag   []uint8 // state → flagOutput | flagKeyword
	lens   []int32 // form → length in bytes
}

// keywordRoots are the roots every secret word of the key-name rule
// contains (see secretWord), matched in any letter case.
var keywordRoots = []string{"pass", "pwd", "secret", "token", "key", "cred", "priv", "auth", "cookie"}

// newAutomaton compiles the forms (exact, case-sensitive) and the keyword
// roots (any case).
func newAutomaton(forms []string) *automaton {
	type node struct {
		next map[byte]int32
		term int32
		kw   bool
	}
	nodes := []node{{next: map[byte]int32{}, term: -1}}
	insert := func(p string, term int32) {
		s := int32(0)
		for i := 0; i < len(p); i++ {
			n, ok := nodes[s].next[p[i]]
			if !ok {
				n = int32(len(nodes))
				nodes = append(nodes, node{next: map[byte]int32{}, term: -1})
				nodes[s].next[p[i]] = n
			}
			s = n
		}
		if term >= 0 {
			nodes[s].term = term
		} else {
			nodes[s].kw = true
		}
	}
	a := &automaton{}
	for i, f := range forms {
		insert(f, int32(i))
		a.lens = append(a.lens, int32(len(f)))
	}
	for _, root := range keywordRoots {
		for _, v := range caseVariants(root) {
			insert(v, -1)
		}
	}

	// Byte classes: one per byte used by some pattern, 0 for the rest.
	used := [256]bool{}
	for _, n := range nodes {
		for b := range n.next {
			used[b] = true
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

	// Breadth-first: failure links, then the full transition table.
	n := len(nodes)
	fail := make([]int32, n)
	a.next = make([]int32, n*a.stride)
	a.term = make([]int32, n)
	a.dict = make([]int32, n)
	kw := make([]bool, n)
	order := make([]int32, 0, n)
	order = append(order, 0)
	a.term[0], a.dict[0] = nodes[0].term, -1
	for i := 0; i < len(order); i++ {
		s := order[i]
		for c := range 256 {
			cl := int(a.class[c])
			if cl == 0 {
				continue
			}
			child, ok := nodes[s].next[byte(c)]
			if !ok {
				if s == 0 {
					a.next[cl] = 0
				} else {
					a.next[int(s)*a.stride+cl] = a.next[int(fail[s])*a.stride+cl]
				}
				continue
			}
			a.next[int(s)*a.stride+cl] = child
			if s != 0 {
				fail[child] = a.next[int(fail[s])*a.stride+cl]
			}
			f := fail[child]
			a.term[child] = nodes[child].term
			if a.term[f] >= 0 {
				a.dict[child] = f
			} else {
				a.dict[child] = a.dict[f]
			}
			kw[child] = nodes[child].kw || kw[f]
			order = append(order, child)
		}
	}
	a.flag = make([]uint8, n)
	for s := range n {
		if a.term[s] >= 0 || a.dict[s] >= 0 {
			a.flag[s] |= flagOutput
		}
		if kw[s] {
			a.flag[s] |= flagKeyword
		}
	}
	return a
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

const (
	flagOutput  = 1 << iota // a form ends here or at a suffix
	flagKeyword             // a keyword root ends here or at a suffix
)

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
	for i := 0; i < len(data); i++ {
		s = a.next[int(s)*a.stride+int(a.class[data[i]])]
		fl := a.flag[s]
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
