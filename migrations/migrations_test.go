package migrations

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
)

// fixture is the state file the carto-setup of schema 1 wrote, kept beside
// the wizard's store that reads it.
const fixture = "../internal/wizard/testdata/state-schema1.json"

func decodeMap(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestEmbedded loads the migrations built into carto-setup and checks each
// against its pair of states in testdata/state: the file the previous
// carto-setup wrote, and what it must become.
func TestEmbedded(t *testing.T) {
	all, err := All()
	if err != nil {
		t.Fatal(err)
	}
	if Latest() != Baseline+len(all) {
		t.Errorf("Latest %d with %d migrations", Latest(), len(all))
	}
	for i, m := range all {
		before, err := os.ReadFile(filepath.Join("testdata", "state", fmt.Sprintf("%04d-before.json", m.Number)))
		if err != nil {
			t.Errorf("%s has no state of the previous format to test on: %v", m.Name, err)
			continue
		}
		after, err := os.ReadFile(filepath.Join("testdata", "state", fmt.Sprintf("%04d-after.json", m.Number)))
		if err != nil {
			t.Errorf("%s has no expected result: %v", m.Name, err)
			continue
		}
		if s := decodeMap(t, before)["schema"]; s != float64(m.Number-1) {
			t.Errorf("%04d-before.json has schema %v, want %d", m.Number, s, m.Number-1)
		}
		got, from, err := apply(before, all[:i+1])
		if err != nil || from != m.Number-1 {
			t.Errorf("%s: from %d, %v", m.Name, from, err)
			continue
		}
		if diff := cmp.Diff(decodeMap(t, after), decodeMap(t, got)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", m.Name, diff)
		}
	}
	// The directory's other files (the README) are not migrations.
	if _, err := embedded.ReadFile("state/README.md"); err != nil {
		t.Error(err)
	}
}

// TestApplyExampleMigrations runs two example migrations (testdata/example)
// on the state file written by the carto-setup of schema 1: each op moves
// what it names and nothing else changes.
func TestApplyExampleMigrations(t *testing.T) {
	set, err := load(os.DirFS("testdata"), "example")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(fixture)
	if err != nil {
		t.Fatal(err)
	}
	got, from, err := apply(raw, set)
	if err != nil || from != 1 {
		t.Fatalf("from %d, %v", from, err)
	}
	old, now := decodeMap(t, raw), decodeMap(t, got)
	if now["schema"] != float64(3) {
		t.Errorf("schema %v, want 3", now["schema"])
	}
	db, olddb := now["database"].(map[string]any), old["database"].(map[string]any)
	tls, _ := db["tls"].(map[string]any)
	if tls["mode"] != olddb["ssl_mode"] || tls["mode"] != "disable" {
		t.Errorf("database.tls.mode %v, was ssl_mode %v", tls["mode"], olddb["ssl_mode"])
	}
	for _, gone := range []string{"ssl_mode", "ca_pem", "ssl"} {
		if _, ok := db[gone]; ok {
			t.Errorf("database.%s is still there", gone)
		}
	}
	if _, ok := tls["ca_pem"]; ok {
		t.Error("an absent ca_pem was moved into existence")
	}
	if now["cache"].(map[string]any)["mode"] != "bundled" {
		t.Errorf("cache.mode %v", now["cache"])
	}
	renamed := 0
	for step, run := range now["checks"].(map[string]any) {
		for i, r := range run.(map[string]any)["results"].([]any) {
			r := r.(map[string]any)
			oldR := old["checks"].(map[string]any)[step].(map[string]any)["results"].([]any)[i].(map[string]any)
			if _, ok := r["measured"]; ok || r["seen"] != oldR["measured"] {
				t.Errorf("checks.%s.results.%d: measured not renamed: %v", step, i, r)
			}
			renamed++
		}
	}
	if renamed < 10 {
		t.Errorf("only %d results renamed", renamed)
	}
	if !reflect.DeepEqual(now["advanced"], map[string]any{"proxy": nil}) {
		t.Errorf("advanced %v", now["advanced"])
	}
	// Nothing else changed.
	for _, k := range []string{"package", "domain", "tls", "buckets", "overrides", "done", "revision", "updated_at"} {
		if !reflect.DeepEqual(old[k], now[k]) {
			t.Errorf("%s changed", k)
		}
	}
	// Applying again is no change: the file is at the latest schema.
	again, from, err := apply(got, set)
	if err != nil || from != 3 || string(again) != string(got) {
		t.Errorf("second apply: from %d, %v, changed %v", from, err, string(again) != string(got))
	}
}

func TestApplyRefuses(t *testing.T) {
	set, err := load(os.DirFS("testdata"), "example")
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = apply([]byte(`{"schema": 4, "domain": {}}`), set)
	var newer *NewerError
	if !errors.As(err, &newer) || newer.Schema != 4 || newer.Latest != 3 || !strings.Contains(err.Error(), "use a newer carto-setup") {
		t.Errorf("newer state: %v", err)
	}
	for name, raw := range map[string]string{
		"not JSON":          `{"schema": 1`,
		"not an object":     `[1]`,
		"schema not number": `{"schema": "1"}`,
		"fractional schema": `{"schema": 1.5}`,
		"negative schema":   `{"schema": -1}`,
	} {
		if _, _, err := apply([]byte(raw), set); err == nil || errors.As(err, &newer) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// Format 1 files without a schema, or with 0 (a caller replaced the
	// whole State before saving), are migrated from 1.
	for _, raw := range []string{`{"cache": {"mode": "embedded"}}`, `{"schema": 0, "cache": {"mode": "embedded"}}`} {
		out, from, err := apply([]byte(raw), set)
		if err != nil || from != 1 || !strings.Contains(string(out), `"bundled"`) || !strings.Contains(string(out), `"schema": 3`) {
			t.Errorf("%s: from %d, %v\n%s", raw, from, err, out)
		}
	}
	if _, _, err := Apply([]byte(fmt.Sprintf(`{"schema": %d}`, Latest()+1))); !errors.As(err, &newer) {
		t.Errorf("Apply of a newer state: %v", err)
	}
	if out, from, err := Apply([]byte(fmt.Sprintf(`{"schema": %d, "x": 1}`, Latest()))); err != nil || from != Latest() || string(out) != fmt.Sprintf(`{"schema": %d, "x": 1}`, Latest()) {
		t.Errorf("Apply of a current state: %q %d %v", out, from, err)
	}
}

func TestLoadValidates(t *testing.T) {
	ok := `{"description": "d", "ops": [{"op": "remove", "path": "/a"}]}`
	tests := []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"gap", map[string]string{"m/0002-a.json": ok, "m/0004-b.json": ok}, "expected number 0003"},
		{"starts at 3", map[string]string{"m/0003-a.json": ok}, "expected number 0002"},
		{"unknown op", map[string]string{"m/0002-a.json": `{"ops": [{"op": "explode", "path": "/a"}]}`}, `unknown op "explode"`},
		{"not a pointer", map[string]string{"m/0002-a.json": `{"ops": [{"op": "remove", "path": "a"}]}`}, "not a JSON pointer"},
		{"move with *", map[string]string{"m/0002-a.json": `{"ops": [{"op": "move", "from": "/a/*", "path": "/b"}]}`}, "no * segment"},
		{"set without value", map[string]string{"m/0002-a.json": `{"ops": [{"op": "set", "path": "/a"}]}`}, "needs a value"},
		{"not JSON", map[string]string{"m/0002-a.json": `{`}, "0002-a.json"},
	}
	for _, tt := range tests {
		fsys := fstest.MapFS{}
		for name, text := range tt.files {
			fsys[name] = &fstest.MapFile{Data: []byte(text)}
		}
		fsys["m/README.md"] = &fstest.MapFile{Data: []byte("ignored")}
		if _, err := load(fsys, "m"); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want %q", tt.name, err, tt.want)
		}
	}
}

func TestOps(t *testing.T) {
	tests := []struct {
		name     string
		op       string
		in, want string
		err      string
	}{
		{"set creates parents", `{"op":"set","path":"/a/b/c","value":1}`, `{"x":1}`, `{"x":1,"a":{"b":{"c":1}}}`, ""},
		{"set overwrites", `{"op":"set","path":"/x","value":"y"}`, `{"x":1}`, `{"x":"y"}`, ""},
		{"default keeps", `{"op":"default","path":"/x","value":2}`, `{"x":1}`, `{"x":1}`, ""},
		{"default adds", `{"op":"default","path":"/y","value":[1]}`, `{"x":1}`, `{"x":1,"y":[1]}`, ""},
		{"remove", `{"op":"remove","path":"/a/b"}`, `{"a":{"b":1,"c":2}}`, `{"a":{"c":2}}`, ""},
		{"remove absent", `{"op":"remove","path":"/a/z/q"}`, `{"a":{"b":1}}`, `{"a":{"b":1}}`, ""},
		{"remove in every member", `{"op":"remove","path":"/m/*/secret"}`, `{"m":{"a":{"secret":1,"k":1},"b":{"k":2}}}`, `{"m":{"a":{"k":1},"b":{"k":2}}}`, ""},
		{"rename in array items", `{"op":"rename","path":"/l/*/old","to":"new"}`, `{"l":[{"old":1},{"x":2},{"old":3}]}`, `{"l":[{"new":1},{"x":2},{"new":3}]}`, ""},
		{"rename onto a taken key", `{"op":"rename","path":"/a","to":"b"}`, `{"a":1,"b":2}`, "", "is taken"},
		{"replace matching", `{"op":"replace","path":"/l/*","old":"a","new":"b"}`, `{"l":["a","c","a"]}`, `{"l":["b","c","b"]}`, ""},
		{"replace objects", `{"op":"replace","path":"/o","old":{"k":1},"new":null}`, `{"o":{"k":1}}`, `{"o":null}`, ""},
		{"move", `{"op":"move","from":"/a/b","path":"/c/d"}`, `{"a":{"b":[1]}}`, `{"a":{},"c":{"d":[1]}}`, ""},
		{"move absent", `{"op":"move","from":"/a/z","path":"/c"}`, `{"a":{}}`, `{"a":{}}`, ""},
		{"move onto a taken path", `{"op":"move","from":"/a","path":"/b"}`, `{"a":1,"b":2}`, "", "is taken"},
		{"copy is deep", `{"op":"copy","from":"/a","path":"/b"}`, `{"a":{"k":[1]}}`, `{"a":{"k":[1]},"b":{"k":[1]}}`, ""},
		{"escaped pointer", `{"op":"set","path":"/a~1b/c~0d","value":true}`, `{}`, `{"a/b":{"c~d":true}}`, ""},
		{"array index", `{"op":"set","path":"/l/1","value":9}`, `{"l":[1,2]}`, `{"l":[1,9]}`, ""},
		{"array index out of range", `{"op":"set","path":"/l/5","value":9}`, `{"l":[1,2]}`, "", "no element 5"},
		{"through a scalar", `{"op":"set","path":"/x/y","value":9}`, `{"x":1}`, `{"x":1}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var op Op
			if err := json.Unmarshal([]byte(tt.op), &op); err != nil {
				t.Fatal(err)
			}
			if err := op.check(); err != nil {
				t.Fatal(err)
			}
			var doc any
			json.Unmarshal([]byte(tt.in), &doc)
			got, err := op.apply(doc)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var want any
			json.Unmarshal([]byte(tt.want), &want)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
