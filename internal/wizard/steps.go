package wizard

// Step identifies one page of the wizard by its URL slug.
type Step string

// The steps of product.md, in order.
const (
	Preflight Step = "preflight"
	Package   Step = "package"
	Domain    Step = "domain"
	Database  Step = "database"
	TLS       Step = "tls"
	Buckets   Step = "buckets"
	Advanced  Step = "advanced"
	Review    Step = "review"
	Install   Step = "install"
	Smoke     Step = "smoke"
)

// Steps lists every step in the order the admin walks them.
var Steps = []Step{Preflight, Package, Domain, Database, TLS, Buckets, Advanced, Review, Install, Smoke}

var titles = map[Step]string{
	Preflight: "Preflight",
	Package:   "Installation package",
	Domain:    "Domain",
	Database:  "Database and cache",
	TLS:       "TLS certificate",
	Buckets:   "Buckets",
	Advanced:  "Advanced settings",
	Review:    "Review",
	Install:   "Install",
	Smoke:     "Smoke test",
}

// Optional reports whether the admin may go past s without it being done:
// the Advanced settings, whose every field may stay empty (a state saved
// before the step existed goes on to the review). The wizard still walks
// through it after the buckets.
func (s Step) Optional() bool { return s == Advanced }

// Title is the step's human name.
func (s Step) Title() string { return titles[s] }

// Index is the step's position, counting from 1, or 0 if s is not a step.
func (s Step) Index() int {
	for i, x := range Steps {
		if x == s {
			return i + 1
		}
	}
	return 0
}

// Next returns the step after s, or "" after the last one.
func Next(s Step) Step {
	i := s.Index()
	if i == 0 || i == len(Steps) {
		return ""
	}
	return Steps[i]
}

// FirstIncomplete returns the first step not marked done, or the last step
// when every step is done. It is where a returning admin lands.
func FirstIncomplete(st State) Step {
	for _, s := range Steps {
		if !st.Done[s] && !s.Optional() {
			return s
		}
	}
	return Steps[len(Steps)-1]
}

// Reachable reports whether the admin may open s: every earlier step that
// is not optional must be done. Steps already done stay reachable, so any step can be revisited.
func Reachable(st State, s Step) bool {
	for _, x := range Steps {
		if x == s {
			return true
		}
		if !st.Done[x] && !x.Optional() {
			return false
		}
	}
	return false
}
