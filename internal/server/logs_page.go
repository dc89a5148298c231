package server

import (
	"bufio"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/carto-setup/carto-setup/internal/logstore"
	"github.com/carto-setup/carto-setup/internal/logstream"
	"github.com/carto-setup/carto-setup/web"
)

// ProjectLogs is what the Logs page reads: the live hub of the wizard's
// follower of the Compose project, and the on-disk history it keeps.
type ProjectLogs interface {
	Hub() *logstream.Hub
	Query(q logstore.Query) (logstore.Result, error)
	Scan(q logstore.Query, fn func(logstore.Record) error) error
	Services() ([]logstore.ServiceInfo, error)
}

// The Logs page's bounds.
const (
	defaultLogLines = 1000
	maxLogLines     = 20000
	// formTimeLayout is a datetime-local input's value.
	formTimeLayout = "2006-01-02T15:04"
)

// logsView is a parsed Logs request: the form as typed, the query it
// makes and when the view was taken.
type logsView struct {
	form  web.LogsForm
	query logstore.Query
	// at is the instant the history ends (exclusive) and the live tail
	// begins: the request's at=, or now.
	at time.Time
	// live says the range is open-ended: new lines belong to the view.
	live bool
}

// parseLogsView reads the filters of a Logs request. A filter that cannot
// be used is a problem: a sentence that names it for the admin.
func parseLogsView(q url.Values, now time.Time) (v logsView, problem string) {
	v = logsView{form: web.LogsForm{
		Search: strings.TrimSpace(q.Get("q")), Regex: q.Get("re") == "1", Level: q.Get("level"), Since: q.Get("since"),
		From: q.Get("from"), To: q.Get("to"), Wrap: true, Follow: q.Get("follow") == "1", Lines: defaultLogLines,
	}}
	for _, s := range q["service"] {
		if s = strings.TrimSpace(s); s != "" && !slices.Contains(v.form.Services, s) {
			v.form.Services = append(v.form.Services, s)
		}
	}
	slices.Sort(v.form.Services)
	if w := q["wrap"]; len(w) > 0 {
		v.form.Wrap = w[len(w)-1] == "1" // the hidden 0, then the checkbox's 1 when ticked
	}
	if n, err := strconv.Atoi(q.Get("lines")); err == nil {
		v.form.Lines = min(max(n, 1), maxLogLines)
	}
	v.at = now
	if s := q.Get("at"); s != "" {
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return v, "The view's time (at) is not a valid time; open the Logs page again."
		}
		v.at = t
	}
	lq := logstore.Query{Services: v.form.Services, Limit: v.form.Lines, Newest: true}
	if v.form.Search != "" {
		if v.form.Regex {
			if _, err := regexp.Compile(v.form.Search); err != nil {
				return v, "The search is not a valid regular expression: " + strings.TrimPrefix(err.Error(), "error parsing regexp: ") + "."
			}
			lq.Grep = v.form.Search
		} else {
			lq.Text = v.form.Search
		}
	}
	if v.form.Level != "" {
		min, err := logstore.ParseLevel(v.form.Level)
		if err != nil {
			return v, "Choose a level from the list."
		}
		for l := min; l <= logstore.LevelFatal; l++ {
			lq.Levels = append(lq.Levels, l)
		}
	}
	from, ok := formTime(v.form.From)
	if !ok {
		return v, "From is not a time such as 2026-12-07T14:30 (UTC)."
	}
	to, ok := formTime(v.form.To)
	if !ok {
		return v, "To is not a time such as 2026-12-07T14:30 (UTC)."
	}
	switch start := q.Get("start"); {
	case start != "":
		// A link that shows or downloads a view again pins its range's
		// start, which a preset (the last hour) would move.
		t, err := time.Parse(time.RFC3339Nano, start)
		if err != nil {
			return v, "The view's start is not a valid time; open the Logs page again."
		}
		lq.Since = t
	case !from.IsZero():
		lq.Since = from
	case v.form.Since != "":
		d, err := logstore.ParseDuration(v.form.Since)
		if err != nil {
			return v, "Choose a range from the list."
		}
		lq.Since = now.Add(-d)
	}
	lq.Until = v.at
	v.live = to.IsZero()
	if !to.IsZero() && to.Before(v.at) {
		lq.Until = to
	}
	if !lq.Since.IsZero() && !lq.Since.Before(lq.Until) {
		return v, "The range ends before it begins: choose a From time before the To time."
	}
	v.query = lq
	return v, ""
}

// formTime reads a datetime-local value, in UTC; "" is no time.
func formTime(s string) (time.Time, bool) {
	if s == "" {
		return time.Time{}, true
	}
	for _, layout := range []string{formTimeLayout, formTimeLayout + ":05", formTimeLayout + ":05.000"} {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// values is the view's query string, without at; change edits it.
func (v logsView) values(change func(url.Values)) url.Values {
	q := url.Values{}
	for _, s := range v.form.Services {
		q.Add("service", s)
	}
	set := func(k, val string) {
		if val != "" {
			q.Set(k, val)
		}
	}
	set("q", v.form.Search)
	if v.form.Regex {
		q.Set("re", "1")
	}
	set("level", v.form.Level)
	set("since", v.form.Since)
	set("from", v.form.From)
	set("to", v.form.To)
	if !v.form.Wrap {
		q.Set("wrap", "0")
	}
	if v.form.Lines != defaultLogLines {
		q.Set("lines", strconv.Itoa(v.form.Lines))
	}
	if v.form.Follow {
		q.Set("follow", "1")
	}
	if change != nil {
		change(q)
	}
	return q
}

// handleLogsPage shows the Logs page: always there once signed in,
// whatever job runs or not.
func (d *Deps) handleLogsPage(w http.ResponseWriter, r *http.Request) error {
	page := web.LogsPageView{}
	if d.Logs == nil {
		page.Unavailable = "This wizard keeps no logs: its console says why (another carto-setup may be writing them)."
		page.Form = web.LogsForm{Wrap: true, Lines: defaultLogLines}
		return render(w, r, http.StatusOK, web.LogsPage(page))
	}
	// The live tail starts where the hub is now, the history ends now:
	// cursors first, so that no line falls between the two.
	cursors := d.Logs.Hub().Last()
	v, problem := parseLogsView(r.URL.Query(), time.Now())
	page.Form = v.form
	infos, err := d.Logs.Services()
	if err != nil {
		return err
	}
	page.Services = serviceViews(infos, v)
	if problem != "" {
		page.FormError = problem
		return render(w, r, http.StatusUnprocessableEntity, web.LogsPage(page))
	}
	res, err := d.Logs.Query(v.query)
	if err != nil {
		return err
	}
	for _, rec := range res.Records {
		page.Lines = append(page.Lines, lineView(rec.Time, rec.Service, rec.Stream, rec.Marker, rec.Level, rec.Text))
	}
	at := v.at.UTC().Format(time.RFC3339Nano)
	pin := func(q url.Values) {
		q.Set("at", at)
		if !v.query.Since.IsZero() {
			q.Set("start", v.query.Since.UTC().Format(time.RFC3339Nano))
		}
	}
	page.More = res.More
	if res.More && v.form.Lines < maxLogLines {
		page.OlderURL = "/logs?" + v.values(func(q url.Values) {
			pin(q)
			q.Set("lines", strconv.Itoa(min(2*v.form.Lines, maxLogLines)))
		}).Encode()
	}
	page.DownloadURL = "/logs/download?" + v.values(func(q url.Values) {
		pin(q)
		q.Set("lines", strconv.Itoa(max(1, len(res.Records))))
	}).Encode()
	page.Live = v.live && r.URL.Query().Get("at") == ""
	if page.Live {
		page.LiveQuery = v.values(nil).Encode()
		page.Cursors = formatCursors(cursors)
		page.At = at
	}
	return render(w, r, http.StatusOK, web.LogsPage(page))
}

// serviceViews is the service list: sorted by name, each with its count,
// its errors, and the link to its own timeline.
func serviceViews(infos []logstore.ServiceInfo, v logsView) []web.LogServiceView {
	slices.SortFunc(infos, func(a, b logstore.ServiceInfo) int { return strings.Compare(a.Service, b.Service) })
	out := make([]web.LogServiceView, 0, len(infos))
	for _, in := range infos {
		sv := web.LogServiceView{Name: in.Service, Lines: in.Lines, Errors: in.Errors, Selected: slices.Contains(v.form.Services, in.Service)}
		if !in.LastError.IsZero() {
			sv.LastError = in.LastError.UTC().Format(logstore.TimeLayout) + " UTC"
		}
		sv.URL = "/logs?" + v.values(func(q url.Values) { q["service"] = []string{in.Service} }).Encode()
		out = append(out, sv)
	}
	return out
}

// lineView is a record as the page and the download show it.
func lineView(t time.Time, service, stream, marker string, level logstore.Level, text string) web.LogLineView {
	l := web.LogLineView{Time: t.UTC().Format(logstore.TimeLayout), Service: service, Text: logstore.ShownText(stream, text), Class: stream}
	if stream == logstream.Marker.String() {
		l.Class = "marker marker-" + marker
	} else if level >= logstore.LevelWarn {
		l.Class += " lvl-" + level.String()
	}
	return l
}

// handleLogsDownload sends the lines a Logs view shows as a text file:
// the same query, up to the view's at, as many lines as it showed.
func (d *Deps) handleLogsDownload(w http.ResponseWriter, r *http.Request) error {
	if d.Logs == nil {
		return &appError{Status: http.StatusNotFound, Title: "No logs", Message: "This wizard keeps no logs."}
	}
	v, problem := parseLogsView(r.URL.Query(), time.Now())
	if problem != "" {
		return &appError{Status: http.StatusUnprocessableEntity, Title: "The logs could not be selected", Message: problem}
	}
	res, err := d.Logs.Query(v.query)
	if err != nil {
		return err
	}
	name := "carto-logs"
	if len(v.form.Services) == 1 && fileNameSafe(v.form.Services[0]) {
		name += "-" + v.form.Services[0]
	}
	name += "-" + v.at.UTC().Format("20060102-150405") + ".txt"
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	w.Header().Set("Cache-Control", "no-store")
	bw := bufio.NewWriter(w)
	for _, rec := range res.Records {
		bw.WriteString(rec.String() + "\n")
	}
	return bw.Flush()
}

// fileNameSafe reports whether a service name may go into a file name as
// it is.
func fileNameSafe(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// liveLine is one line of the live tail, ready to show: Time, Service and
// Text as the page shows them, and Next, the at= of a view that ends
// right after it.
type liveLine struct {
	Container string    `json:"container"`
	Seq       uint64    `json:"seq"`
	TS        time.Time `json:"ts"`
	Next      string    `json:"next"`
	Time      string    `json:"time"`
	Service   string    `json:"service"`
	Stream    string    `json:"stream"`
	Text      string    `json:"text"`
	Class     string    `json:"class"`
}

// liveMessage is a batch of the live tail, over the websocket or polled.
type liveMessage struct {
	Type    string            `json:"type"` // "lines"
	Lines   []liveLine        `json:"lines"`
	Gaps    []logstream.Gap   `json:"gaps,omitempty"`
	Cursors logstream.Cursors `json:"cursors"`
	More    bool              `json:"more,omitempty"`
}

// liveFilter returns the matcher of a view's live tail: its filters, and
// no line older than the view's at (those are in its history).
func liveFilter(v logsView) (func(logstream.Line) bool, error) {
	q := v.query
	q.Until = time.Time{} // the history's end is where the tail begins
	f, err := logstore.NewFilter(q)
	if err != nil {
		return nil, err
	}
	return func(l logstream.Line) bool { return !l.TS.Before(v.at) && f.Match(l) }, nil
}

// liveBatch turns a hub batch into a message: the lines the view keeps,
// every gap, and the cursors past all of them.
func liveBatch(b logstream.Batch, keep func(logstream.Line) bool) liveMessage {
	m := liveMessage{Type: "lines", Lines: []liveLine{}, Gaps: b.Gaps, Cursors: b.Cursors, More: b.More}
	for _, l := range b.Lines {
		if !keep(l) {
			continue
		}
		service := l.Service
		if service == "" {
			service = l.Container
		}
		level := logstore.LevelNone
		if l.Stream != logstream.Marker {
			level = logstore.DetectLevel([]byte(l.Text))
		}
		v := lineView(l.TS, service, l.Stream.String(), l.Marker, level, l.Text)
		m.Lines = append(m.Lines, liveLine{Container: l.Container, Seq: l.Seq, TS: l.TS, Next: l.TS.Add(time.Nanosecond).UTC().Format(time.RFC3339Nano),
			Time: v.Time, Service: v.Service, Stream: l.Stream.String(), Text: v.Text, Class: v.Class})
	}
	return m
}

// liveView parses a live request: the view's filters and its at, which
// the page passes on.
func (d *Deps) liveView(r *http.Request) (logsView, func(logstream.Line) bool, error) {
	q := r.URL.Query()
	if q.Get("at") == "" {
		return logsView{}, nil, errors.New("no at")
	}
	v, problem := parseLogsView(q, time.Now())
	if problem != "" {
		return v, nil, errors.New("logs: " + strings.ToLower(problem[:1]) + problem[1:])
	}
	keep, err := liveFilter(v)
	return v, keep, err
}

// handleLogsPoll serves the live tail over plain HTTP, for networks that
// block websockets: one batch after the cursors in after=.
func (d *Deps) handleLogsPoll(w http.ResponseWriter, r *http.Request) error {
	if d.Logs == nil {
		return &appError{Status: http.StatusNotFound, Title: "No logs", Message: "This wizard keeps no logs."}
	}
	v, keep, err := d.liveView(r)
	if err != nil {
		http.Error(w, "bad view", http.StatusBadRequest)
		return nil
	}
	m := liveBatch(d.Logs.Hub().PollServices(parseCursors(r.URL.Query()), batchLines, v.form.Services), keep)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	return json.NewEncoder(w).Encode(m)
}

// handleLogsLive streams the live tail over a websocket.
func (d *Deps) handleLogsLive(w http.ResponseWriter, r *http.Request) {
	if d.Logs == nil {
		http.NotFound(w, r)
		return
	}
	v, keep, err := d.liveView(r)
	if err != nil {
		http.Error(w, "bad view", http.StatusBadRequest)
		return
	}
	s, ok := d.openLogSocket(w, r)
	if !ok {
		return
	}
	defer s.conn.Close()
	// A view of some services is woken only by their lines.
	sub := d.Logs.Hub().SubscribeServices(parseCursors(r.URL.Query()), v.form.Services)
	defer sub.Close()
	s.follow(sub, func(b logstream.Batch) []any {
		m := liveBatch(b, keep)
		if len(m.Lines) == 0 && len(m.Gaps) == 0 {
			return nil // the client's cursors catch up with the next batch it gets
		}
		return []any{m}
	}, nil, nil, "")
}

// formatCursors writes cursors as parseCursors reads them.
func formatCursors(c logstream.Cursors) string {
	parts := make([]string, 0, len(c))
	for name, seq := range c {
		parts = append(parts, name+":"+strconv.FormatUint(seq, 10))
	}
	slices.Sort(parts)
	return strings.Join(parts, ",")
}
