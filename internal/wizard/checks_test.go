package wizard

import (
	"testing"
	"time"

	"github.com/carto-setup/carto-setup/internal/check"
)

func TestGate(t *testing.T) {
	now := time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)
	res := func(id string, s check.Status, fixed bool) StoredResult {
		return StoredResult{Result: check.Result{ID: id, Status: s}, Fixed: fixed}
	}
	for _, tc := range []struct {
		name      string
		results   []StoredResult
		reasons   map[string]string
		wantErrs  []string
		wantOvers int
	}{
		{"all pass", []StoredResult{res("a", check.Pass, false)}, nil, nil, 0},
		{"warning is recorded", []StoredResult{res("a", check.Warn, false)}, nil, nil, 1},
		{"failure needs a reason", []StoredResult{res("a", check.Fail, false)}, nil, []string{"override.a"}, 0},
		{"failure with reason", []StoredResult{res("a", check.Fail, false)}, map[string]string{"a": "pilot"}, nil, 1},
		{"could-not-run needs a reason", []StoredResult{res("a", check.Error, false)}, nil, []string{"override.a"}, 0},
		{"fixed failure blocks even with reason", []StoredResult{res("a", check.Fail, true)}, map[string]string{"a": "x"}, []string{"override.a"}, 0},
		{"one blocker stops all overrides", []StoredResult{res("a", check.Warn, false), res("b", check.Fail, false)}, nil, []string{"override.b"}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			errs, ovs := Gate(tc.results, tc.reasons, now)
			if len(errs) != len(tc.wantErrs) {
				t.Fatalf("errs = %v, want %v", errs, tc.wantErrs)
			}
			for _, f := range tc.wantErrs {
				if errs[f] == "" {
					t.Errorf("no error for %s", f)
				}
			}
			if len(ovs) != tc.wantOvers {
				t.Errorf("overrides = %v, want %d", ovs, tc.wantOvers)
			}
		})
	}
}
