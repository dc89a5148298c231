package web

// LogsPageView is the Logs page: the project's services with their counts,
// the filters as the admin set them, and the lines they select.
type LogsPageView struct {
	// Unavailable says why this wizard keeps no logs (another process
	// writes them, Docker's address is malformed); empty when it does.
	Unavailable string
	Form        LogsForm
	// FormError is a filter that could not be used (a bad regular
	// expression, a time that does not parse), named for the admin.
	FormError string
	Services  []LogServiceView
	Lines     []LogLineView
	// More says that older lines match than are shown; OlderURL shows
	// more of them.
	More     bool
	OlderURL string
	// DownloadURL downloads exactly the lines shown, as text.
	DownloadURL string
	// Live says the range is open-ended, so the page follows new lines:
	// LiveQuery is the filters' query string for the live endpoints,
	// Cursors and At where the live tail begins.
	Live      bool
	LiveQuery string
	Cursors   string
	At        string
}

// LogsForm is the filters of the Logs page, as typed.
type LogsForm struct {
	Services []string
	Search   string
	Regex    bool
	Level    string // minimum level: "", "debug", "info", "warn", "error"
	Since    string // a preset range: "15m", "1h", "6h", "24h", "7d", "" for all
	From, To string // a custom range, "2006-01-02T15:04" in UTC
	Wrap     bool
	Lines    int
	Follow   bool // without JavaScript: reload every few seconds
}

// LogServiceView is one service of the list.
type LogServiceView struct {
	Name      string
	Lines     int64
	Errors    int64
	LastError string // when the newest error was written, or ""
	Selected  bool
	URL       string // its timeline alone, with the other filters kept
}

// LogLineView is one line as shown and downloaded: Time, " ", Service,
// " | ", Text.
type LogLineView struct {
	Time    string
	Service string
	Text    string
	Class   string // "marker", "stderr", "lvl-error", ...
}

// LogLevels are the level filter's choices, least severe first.
var LogLevels = []string{"debug", "info", "warn", "error"}

// LogRanges are the preset time ranges.
var LogRanges = []struct{ Value, Label string }{
	{"15m", "last 15 minutes"}, {"1h", "last hour"}, {"6h", "last 6 hours"}, {"24h", "last 24 hours"}, {"7d", "last 7 days"}, {"", "everything kept"},
}

// LogLineCounts are the choices of how many lines to show.
var LogLineCounts = []int{200, 1000, 5000, 20000}

func (f LogsForm) hasService(s string) bool {
	for _, x := range f.Services {
		if x == s {
			return true
		}
	}
	return false
}
