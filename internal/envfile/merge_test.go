package envfile

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func mustParse(t *testing.T, s string) *File {
	t.Helper()
	f, err := Parse([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestChanges(t *testing.T) {
	a := mustParse(t, "A=1\nB=2\n# C=3\nD='x'\n")
	b := mustParse(t, "# moved\nD=x\nA=1\nB=20\nE=5\n")
	got := Changes(a, b, nil)
	want := []Change{
		{Key: "B", Kind: Changed, From: Value{true, "2"}, To: Value{true, "20"}},
		{Key: "E", Kind: Added, To: Value{true, "5"}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Changes (-want +got):\n%s", diff)
	}
	got = Changes(b, a, func(k string) bool { return k != "B" })
	want = []Change{{Key: "E", Kind: Removed, From: Value{true, "5"}}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Changes without B (-want +got):\n%s", diff)
	}
}

// TestMerge is the three-way merge of a newer CARTO package into a
// customer.env the admin edited by hand: the package's changes come in,
// the hand edits stay, and a key both changed is a conflict until it is
// resolved. Every line the merge does not need to touch keeps its bytes.
func TestMerge(t *testing.T) {
	const base = "# CARTO package 1\n" +
		"VERSION=2026.4.1\n" +
		"# the tenant\n" +
		"TENANT=onp-x   # keep this comment\n" +
		"OLD_FLAG=on\n" +
		"SHARED=package\n" +
		"LOG=info\n"
	const ours = "# CARTO package 1\n" +
		"VERSION=2026.4.1\n" +
		"# the tenant\n" +
		"TENANT=onp-x   # keep this comment\n" +
		"OLD_FLAG=on\n" +
		"SHARED=mine\n" +
		"# LOG=info  (removed by hand)\n" +
		"HTTPS_PROXY=http://proxy:3128\n"
	const theirs = "# CARTO package 2\n" +
		"VERSION=2026.8.11\n" +
		"TENANT=onp-x\n" +
		"SHARED=package2\n" +
		"LOG=info\n" +
		"NEW_KEY=added-by-carto\n"
	tests := []struct {
		name      string
		resolve   func(Conflict) (bool, bool)
		want      map[string]Value
		conflicts []string
	}{
		{"unresolved", nil, map[string]Value{
			"VERSION": {true, "2026.8.11"}, "TENANT": {true, "onp-x"}, "OLD_FLAG": {}, "SHARED": {true, "mine"},
			"LOG": {}, "HTTPS_PROXY": {true, "http://proxy:3128"}, "NEW_KEY": {true, "added-by-carto"},
		}, []string{"SHARED"}},
		{"keep mine", func(Conflict) (bool, bool) { return true, false }, map[string]Value{"SHARED": {true, "mine"}}, nil},
		{"take theirs", func(Conflict) (bool, bool) { return true, true }, map[string]Value{"SHARED": {true, "package2"}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := mustParse(t, ours)
			res, err := Merge(mustParse(t, base), o, mustParse(t, theirs), nil, tt.resolve)
			if err != nil {
				t.Fatal(err)
			}
			for k, want := range tt.want {
				if got := ValueOf(o, k); got != want {
					t.Errorf("%s = %+v, want %+v", k, got, want)
				}
			}
			var conflicts []string
			for _, c := range res.Conflicts {
				conflicts = append(conflicts, c.Key)
			}
			if diff := cmp.Diff(tt.conflicts, conflicts); diff != "" {
				t.Errorf("conflicts (-want +got):\n%s", diff)
			}
			if len(res.Conflicts)+len(res.Resolved) != 1 {
				t.Errorf("%d conflicts and %d resolved, want one in all", len(res.Conflicts), len(res.Resolved))
			}
			var taken, kept []string
			for _, c := range res.Taken {
				taken = append(taken, c.Key+":"+string(c.Kind))
			}
			for _, c := range res.Kept {
				kept = append(kept, c.Key+":"+string(c.Kind))
			}
			if diff := cmp.Diff([]string{"VERSION:changed", "NEW_KEY:added", "OLD_FLAG:removed"}, taken); diff != "" {
				t.Errorf("taken (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff([]string{"LOG:removed", "HTTPS_PROXY:added"}, kept); diff != "" {
				t.Errorf("kept (-want +got):\n%s", diff)
			}
			text := string(o.Bytes())
			for _, line := range []string{"# CARTO package 1\n", "TENANT=onp-x   # keep this comment\n", "# LOG=info  (removed by hand)\n", "HTTPS_PROXY=http://proxy:3128\n"} {
				if !strings.Contains(text, line) {
					t.Errorf("the merged file lost the line %q:\n%s", line, text)
				}
			}
		})
	}
}

func TestMergeInclude(t *testing.T) {
	o := mustParse(t, "A=1\nB=1\n")
	res, err := Merge(mustParse(t, "A=1\nB=1\n"), o, mustParse(t, "A=2\nB=2\n"), func(k string) bool { return k == "A" }, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(o.Bytes()); got != "A=2\nB=1\n" {
		t.Errorf("merged = %q, want only A taken", got)
	}
	if len(res.Taken) != 1 {
		t.Errorf("taken %v", res.Taken)
	}
}

func TestMergeRefusesUnwritable(t *testing.T) {
	o := mustParse(t, "A=1\n")
	_, err := Merge(mustParse(t, "A=1\n"), o, mustParse(t, "A='${X}'\n"), nil, nil)
	if err == nil {
		t.Fatal("Merge took a value python-dotenv would expand")
	}
	if strings.Contains(err.Error(), "${X}") {
		t.Errorf("the error quotes the value: %v", err)
	}
}
