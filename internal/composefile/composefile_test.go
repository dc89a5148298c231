package composefile

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/carto-setup/carto-setup/internal/envfile"
)

func TestParse(t *testing.T) {
	const yml = `version: "2.4"
services:
  # the database
  db:
    image: x
    scale: ${LOCAL_POSTGRES_SCALE}
    environment:
      A: b
    volumes:
      - ${BASE}certs:/usr/src/certs:ro
      - data:/var/lib/data
      - type: bind
        source: ./other
        target: /x
      - type: volume
        source: data
        target: /y
  cache:
    image: y
    scale: "${LOCAL_REDIS_SCALE:-1}"
  api:
    image: ${API_IMAGE}
    scale: 2
  broken: [not, a, mapping]
volumes:
  data: {}
`
	got, err := Parse([]byte(yml))
	if err != nil {
		t.Fatal(err)
	}
	want := []Service{
		{Name: "db", Scale: "${LOCAL_POSTGRES_SCALE}", Image: "x", Volumes: []string{"${BASE}certs:/usr/src/certs:ro", "data:/var/lib/data", "./other:/x"}},
		{Name: "cache", Scale: "${LOCAL_REDIS_SCALE:-1}", Image: "y"},
		{Name: "api", Scale: "2", Image: "${API_IMAGE}"},
		{Name: "broken"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	for _, bad := range []string{"services: [", "version: 2\n", "services: {}\n", "services: text\n"} {
		if s, err := Parse([]byte(bad)); err == nil {
			t.Errorf("Parse(%q) = %+v, want an error", bad, s)
		}
	}
}

func TestResolve(t *testing.T) {
	env, err := envfile.Parse([]byte("BASE=gcr.io/carto-onprem-artifacts\nCARTO_SELFHOSTED_VERSION=2026.8.11\nX=${BASE}/x\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ in, want string }{
		{"${BASE}/maps-api:${CARTO_SELFHOSTED_VERSION}", "gcr.io/carto-onprem-artifacts/maps-api:2026.8.11"},
		{"$X:1", "gcr.io/carto-onprem-artifacts/x:1"},
		{"${UNSET:-./}certs:/usr/src/certs", "./certs:/usr/src/certs"},
		{"postgres:13.2-alpine", "postgres:13.2-alpine"},
		{"$$HOME", "$HOME"},
	} {
		if got, err := Resolve(tc.in, env); err != nil || got != tc.want {
			t.Errorf("Resolve(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	if got, err := Resolve("${BASE", env); err == nil {
		t.Errorf("Resolve of an unterminated ${ = %q, want an error", got)
	}
}

func TestResolveScale(t *testing.T) {
	env, err := envfile.Parse([]byte("LOCAL_POSTGRES_SCALE=0\nLOCAL_REDIS_SCALE=1\nEMPTY=\nWORD=many\n"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		expr   string
		want   int
		wantOK bool
	}{
		{"${LOCAL_POSTGRES_SCALE}", 0, true},
		{`"${LOCAL_REDIS_SCALE:-0}"`, 1, true},
		{"$LOCAL_POSTGRES_SCALE", 0, true},
		{"${UNSET:-2}", 2, true},
		{"${EMPTY:-3}", 3, true},
		{"4", 4, true},
		{" 5 ", 5, true},
		{"${WORD}", 0, false},
		{"${UNSET}", 0, false},
		{"${", 0, false},
	}
	for _, tc := range tests {
		got, ok := ResolveScale(tc.expr, env)
		if got != tc.want || ok != tc.wantOK {
			t.Errorf("ResolveScale(%q) = %d, %v; want %d, %v", tc.expr, got, ok, tc.want, tc.wantOK)
		}
	}
}

func TestHostPort(t *testing.T) {
	for _, tt := range []struct {
		entry string
		want  int
		ok    bool
	}{
		{"80:8080", 80, true},
		{"127.0.0.1:8443:8443", 8443, true},
		{"5447:5447/tcp", 5447, true},
		{"8080", 0, false},
		{"8000-8010:80", 0, false},
		{":80", 0, false},
	} {
		if got, ok := HostPort(tt.entry); got != tt.want || ok != tt.ok {
			t.Errorf("HostPort(%q) = %d, %v; want %d, %v", tt.entry, got, ok, tt.want, tt.ok)
		}
	}
}
