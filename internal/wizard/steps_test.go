package wizard

import "testing"

// TestAdvancedStepIsOptional: the wizard walks from the buckets to the
// Advanced settings, but a state without them done (saved before the step
// existed) goes on to the review.
func TestAdvancedStepIsOptional(t *testing.T) {
	if Next(Buckets) != Advanced || Next(Advanced) != Review {
		t.Fatalf("order: after buckets %s, after advanced %s", Next(Buckets), Next(Advanced))
	}
	st := State{Done: map[Step]bool{}}
	for _, s := range []Step{Preflight, Package, Domain, Database, TLS} {
		st.MarkDone(s)
	}
	if Reachable(st, Advanced) || Reachable(st, Review) || FirstIncomplete(st) != Buckets {
		t.Fatalf("without the buckets: advanced %v, review %v, first incomplete %s", Reachable(st, Advanced), Reachable(st, Review), FirstIncomplete(st))
	}
	st.MarkDone(Buckets)
	if !Reachable(st, Advanced) || !Reachable(st, Review) || Reachable(st, Install) {
		t.Errorf("after the buckets: advanced %v, review %v, install %v", Reachable(st, Advanced), Reachable(st, Review), Reachable(st, Install))
	}
	if got := FirstIncomplete(st); got != Review {
		t.Errorf("first incomplete %s, want review", got)
	}
}
