package server

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/google/go-cmp/cmp"
	"github.com/gorilla/websocket"

	"github.com/carto-setup/carto-setup/internal/logstore"
	"github.com/carto-setup/carto-setup/internal/logstream"
)

// storeLogs is what the app gives the Logs page: a real hub and a real
// store, fed as the project follower feeds them (the hub first).
type storeLogs struct {
	*logstore.Store
	hub *logstream.Hub
}

func (s storeLogs) Hub() *logstream.Hub { return s.hub }

func (s storeLogs) add(id string, l logstream.Line) {
	s.hub.Append(l)
	s.Append(id, l, nil)
}

func newStoreLogs(t *testing.T) storeLogs {
	t.Helper()
	st, err := logstore.Open(logstore.Config{Dir: filepath.Join(t.TempDir(), "logs")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return storeLogs{Store: st, hub: logstream.NewHub(logstream.HubConfig{})}
}

// logsAt is a base time a minute ago, so that the lines are in the past
// of every view.
var logsAt = time.Now().UTC().Add(-time.Minute).Truncate(time.Millisecond)

func lat(ms int) time.Time { return logsAt.Add(time.Duration(ms) * time.Millisecond) }

// fillLogs writes two services' timelines with a recreation between them,
// and an install marker.
func fillLogs(l storeLogs) {
	api := func(ms int, stream logstream.Stream, text string) logstream.Line {
		return logstream.Line{Container: "p-api-1", Service: "api", Stream: stream, TS: lat(ms), Text: text}
	}
	l.add("a1", api(1, logstream.Stdout, "INFO api listening on :8080"))
	l.add("", logstream.Line{Container: logstream.ProjectService, Service: logstream.ProjectService, Stream: logstream.Marker,
		Marker: logstream.MarkInstall, TS: lat(2), Text: "install of CARTO 2026.8.11 started"})
	l.add("d1", logstream.Line{Container: "p-db-1", Service: "db", Stream: logstream.Stdout, TS: lat(3), Text: "LOG:  database system is ready"})
	l.add("a1", api(4, logstream.Stderr, `{"level":"error","msg":"connect ECONNREFUSED 10.0.0.5:5432"}`))
	l.add("a2", logstream.Line{Container: "p-api-1", Service: "api", Stream: logstream.Marker, Marker: logstream.MarkRecreated, TS: lat(5),
		Text: "p-api-1 recreated: container a2 replaces a1"})
	l.add("a2", api(6, logstream.Stdout, "WARN slow request /api/v3/maps took 2.1s"))
	l.add("a2", api(7, logstream.Stdout, "INFO api listening on :8080 again"))
}

func (f *fixture) getRaw(t *testing.T, target string) *http.Response {
	t.Helper()
	req := httptest.NewRequest("GET", target, nil)
	req.AddCookie(f.cookie)
	return f.do(t, req)
}

// shownLines returns the text of the page's log view, one entry per line.
func shownLines(t *testing.T, res *http.Response) ([]string, *goquery.Document) {
	t.Helper()
	doc, err := goquery.NewDocumentFromReader(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	text := doc.Find("#log-view").Text()
	if text == "" {
		return nil, doc
	}
	return strings.Split(strings.TrimSuffix(text, "\n"), "\n"), doc
}

func TestLogsPage(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	logs := newStoreLogs(t)
	fillLogs(logs)
	f.deps.Logs = logs
	f.router = routes(f.deps)
	ts := func(ms int) string { return lat(ms).Format(logstore.TimeLayout) }

	t.Run("every service, one timeline, markers", func(t *testing.T) {
		res := f.getRaw(t, "/logs")
		if res.StatusCode != 200 {
			t.Fatalf("status %d", res.StatusCode)
		}
		lines, doc := shownLines(t, res)
		want := []string{
			ts(1) + " api | INFO api listening on :8080",
			ts(2) + " carto-setup | ── install of CARTO 2026.8.11 started",
			ts(3) + " db | LOG:  database system is ready",
			ts(4) + ` api | {"level":"error","msg":"connect ECONNREFUSED 10.0.0.5:5432"}`,
			ts(5) + " api | ── p-api-1 recreated: container a2 replaces a1",
			ts(6) + " api | WARN slow request /api/v3/maps took 2.1s",
			ts(7) + " api | INFO api listening on :8080 again",
		}
		if diff := cmp.Diff(want, lines); diff != "" {
			t.Errorf("lines (-want +got):\n%s", diff)
		}
		if doc.Find("#log-view .marker-recreated").Length() != 1 || doc.Find("#log-view .lvl-error").Length() != 1 {
			t.Errorf("the recreation marker or the error line is not marked: %s", doc.Find("#log-view").Text())
		}
		var svcs []string
		doc.Find("#log-services li[data-service]").Each(func(_ int, s *goquery.Selection) {
			svcs = append(svcs, strings.Join(strings.Fields(s.Text()), " "))
		})
		if diff := cmp.Diff([]string{"api 5 1 errors", "db 1"}, svcs); diff != "" {
			t.Errorf("service list (-want +got):\n%s", diff)
		}
		if v, _ := doc.Find("#log-view").Attr("data-live"); v != "true" {
			t.Error("an open-ended view does not follow new lines")
		}
		if doc.Find(`link[rel=stylesheet][href*="logs.css"]`).Length() != 1 || doc.Find(`#nav-logs[href="/logs"]`).Length() != 1 {
			t.Error("no stylesheet of the page or no nav entry")
		}
	})

	t.Run("one service's timeline keeps the project markers", func(t *testing.T) {
		lines, _ := shownLines(t, f.getRaw(t, "/logs?service=db"))
		want := []string{ts(2) + " carto-setup | ── install of CARTO 2026.8.11 started", ts(3) + " db | LOG:  database system is ready"}
		if diff := cmp.Diff(want, lines); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})

	t.Run("search, regular expression, level", func(t *testing.T) {
		for _, tc := range []struct {
			query string
			want  []int
		}{
			{"q=LISTENING", []int{1, 7}},
			{"q=" + url.QueryEscape("again|slow") + "&re=1", []int{6, 7}},
			{"q=" + url.QueryEscape(`:80[0-9]{2}$`) + "&re=1", []int{1}},
			{"level=warn", []int{4, 6}},
			{"level=error&service=api", []int{4}},
			{"from=" + url.QueryEscape(lat(-60000).Format(formTimeLayout)) + "&q=api&service=api&lines=2", []int{6, 7}},
		} {
			lines, _ := shownLines(t, f.getRaw(t, "/logs?"+tc.query))
			var got []int
			for _, l := range lines {
				for ms := 1; ms <= 7; ms++ {
					if strings.HasPrefix(l, ts(ms)+" ") {
						got = append(got, ms)
					}
				}
			}
			if !cmp.Equal(tc.want, got) {
				t.Errorf("%s: lines %v, want %v:\n%s", tc.query, got, tc.want, strings.Join(lines, "\n"))
			}
		}
	})

	t.Run("a bad regular expression is named", func(t *testing.T) {
		res := f.getRaw(t, "/logs?re=1&q="+url.QueryEscape("(unclosed"))
		body, _ := io.ReadAll(res.Body)
		if res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(string(body), "not a valid regular expression") {
			t.Errorf("status %d:\n%s", res.StatusCode, body)
		}
	})

	t.Run("download is exactly what is shown", func(t *testing.T) {
		for _, q := range []string{"", "?q=api", "?service=api&level=warn", "?lines=3", "?since=1h"} {
			lines, doc := shownLines(t, f.getRaw(t, "/logs"+q))
			href, _ := doc.Find("#log-download").Attr("href")
			if strings.Contains(q, "since") && !strings.Contains(href, "start=") {
				t.Errorf("the download of a preset range does not pin its start: %s", href)
			}
			// Lines written after the page was shown are not in it.
			logs.add("a2", logstream.Line{Container: "p-api-1", Service: "api", Stream: logstream.Stdout, TS: time.Now(), Text: "INFO api later"})
			res := f.getRaw(t, href)
			body, _ := io.ReadAll(res.Body)
			if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Disposition"), "attachment;") {
				t.Fatalf("download %s: %d %v", href, res.StatusCode, res.Header)
			}
			got := strings.Split(strings.TrimSuffix(string(body), "\n"), "\n")
			if diff := cmp.Diff(lines, got); diff != "" || len(lines) == 0 {
				t.Errorf("%s: download (+) differs from the page (-):\n%s", q, diff)
			}
		}
	})

	t.Run("wrap off without JavaScript", func(t *testing.T) {
		_, doc := shownLines(t, f.getRaw(t, "/logs?wrap=0&wrap=1"))
		if !doc.Find("#log-view").HasClass("wrap") {
			t.Error("wrap=0&wrap=1 (the hidden field, then the ticked box) does not wrap")
		}
		_, doc = shownLines(t, f.getRaw(t, "/logs?wrap=0"))
		if doc.Find("#log-view").HasClass("wrap") {
			t.Error("wrap=0 wraps")
		}
		body := func(target string) string {
			b, _ := io.ReadAll(f.getRaw(t, target).Body)
			return string(b)
		}
		if refresh := `<noscript><meta http-equiv="refresh" content="5"></noscript>`; !strings.Contains(body("/logs?follow=1"), refresh) ||
			strings.Contains(body("/logs"), refresh) || strings.Contains(body("/logs?follow=1&to=2020-01-01T00:00"), refresh) {
			t.Error("following without JavaScript: the page reloads itself only when asked to and while the range is open")
		}
	})
}

// TestLogsLive follows a view's live tail over the websocket and over
// polling: only the new lines its filters keep, none from its history.
func TestLogsLive(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	logs := newStoreLogs(t)
	fillLogs(logs)
	f.deps.Logs = logs
	f.deps.HostNames = append(f.deps.HostNames, "127.0.0.1")
	f.router = routes(f.deps)
	srv := httptest.NewServer(f.router)
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")

	_, doc := shownLines(t, f.getRaw(t, "/logs?service=api&q=listening"))
	pre := doc.Find("#log-view")
	query, _ := pre.Attr("data-query")
	at, _ := pre.Attr("data-at")
	cursors, _ := pre.Attr("data-cursors")
	params := query + "&at=" + url.QueryEscape(at) + "&after=" + url.QueryEscape(cursors)

	h := http.Header{}
	h.Set("Origin", "http://"+host)
	h.Set("Cookie", SessionCookie+"="+f.cookie.Value)
	conn, _, err := websocket.DefaultDialer.Dial("ws://"+host+"/logs/live?"+params, h)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// A line from before the view that arrives late, a line of another
	// service, one that does not match, and one that does.
	logs.add("a2", logstream.Line{Container: "p-api-1", Service: "api", Stream: logstream.Stdout, TS: lat(8), Text: "INFO listening late"})
	logs.add("d1", logstream.Line{Container: "p-db-1", Service: "db", Stream: logstream.Stdout, TS: time.Now(), Text: "listening db"})
	logs.add("a2", logstream.Line{Container: "p-api-1", Service: "api", Stream: logstream.Stdout, TS: time.Now(), Text: "INFO busy"})
	now := time.Now()
	logs.add("a2", logstream.Line{Container: "p-api-1", Service: "api", Stream: logstream.Stdout, TS: now, Text: "INFO api Listening anew"})
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	var got []liveLine
	for len(got) == 0 {
		var m liveMessage
		if err := conn.ReadJSON(&m); err != nil {
			t.Fatal(err)
		}
		got = append(got, m.Lines...)
	}
	want := now.UTC().Format(logstore.TimeLayout) + " api | INFO api Listening anew"
	if len(got) != 1 || got[0].Time+" "+got[0].Service+" | "+got[0].Text != want {
		t.Errorf("websocket: %+v, want only %q", got, want)
	}

	req := httptest.NewRequest("GET", "/logs/poll?"+params, nil)
	req.AddCookie(f.cookie)
	res := f.do(t, req)
	var m liveMessage
	if err := jsonDecode(res.Body, &m); err != nil {
		t.Fatal(err)
	}
	if len(m.Lines) != 1 || m.Lines[0].Text != "INFO api Listening anew" || m.Cursors["p-api-1"] == 0 {
		t.Errorf("poll: %+v", m)
	}
}

func jsonDecode(r io.Reader, v any) error { return json.NewDecoder(r).Decode(v) }
