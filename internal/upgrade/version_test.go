package upgrade

import (
	"slices"
	"testing"
)

func TestCompareReleases(t *testing.T) {
	// Oldest first: every pair (i < j) must compare as older.
	ordered := []string{
		"2025.9.11",
		"2025.11.11",
		"2025.11.11-patch1",
		"2026.3.10",
		"2026.4.24",
		"2026.7.16",
		"2026.8.11-rc.2",
		"2026.8.11-rc.7",
		"2026.8.11-rc.10",
		"2026.8.11",
		"2026.10.1",
	}
	for i := range ordered {
		for j := range ordered {
			got := CompareReleases(ordered[i], ordered[j])
			want := 0
			if i < j {
				want = -1
			} else if i > j {
				want = 1
			}
			if got != want {
				t.Errorf("CompareReleases(%q, %q) = %d, want %d", ordered[i], ordered[j], got, want)
			}
		}
	}
	shuffled := []string{"2026.8.11", "2025.11.11-patch1", "2026.8.11-rc.10", "2025.9.11", "2026.10.1", "2026.8.11-rc.2",
		"2026.3.10", "2026.7.16", "2025.11.11", "2026.8.11-rc.7", "2026.4.24"}
	slices.SortFunc(shuffled, CompareReleases)
	if !slices.Equal(shuffled, ordered) {
		t.Errorf("sorted %v", shuffled)
	}
}

func TestReleaseTagShape(t *testing.T) {
	for tag, want := range map[string][2]bool{
		"2026.7.16":         {true, false},
		"2026.8.11-rc.7":    {true, true},
		"2025.11.11-patch1": {true, false},
		"v2026.7.16":        {false, false},
		"2026.7":            {false, false},
		"2026.7.16-":        {false, false},
		"--upload-pack=x":   {false, false},
		"master":            {false, false},
		"2026.7.16 x":       {false, false},
	} {
		if got := [2]bool{IsReleaseTag(tag), Prerelease(tag)}; got != want {
			t.Errorf("%q: release tag, prerelease = %v, want %v", tag, got, want)
		}
	}
}
