package ociregistry

import (
	"net/http"
	"testing"
)

// TestServer: loopback only, the login enforced on the registry API, and
// the same address served again after Close.
func TestServer(t *testing.T) {
	if s, err := Listen("0.0.0.0:0", Options{}); err == nil {
		s.Close()
		t.Fatal("Listen accepted a non-loopback address")
	}
	s, err := Listen("127.0.0.1:0", Options{Username: "carto", Password: "pw", BlobDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	get := func(user, pass string) (int, error) {
		req, _ := http.NewRequest("GET", "http://"+s.Host+"/v2/", nil)
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err
		}
		res.Body.Close()
		return res.StatusCode, nil
	}
	for _, tc := range []struct {
		user, pass string
		want       int
	}{{"", "", 401}, {"carto", "wrong", 401}, {"carto", "pw", 200}} {
		if got, err := get(tc.user, tc.pass); err != nil || got != tc.want {
			t.Errorf("GET /v2/ as %q: %d, %v; want %d", tc.user, got, err, tc.want)
		}
	}
	s.Close()
	if _, err := get("carto", "pw"); err == nil {
		t.Error("the registry answers after Close")
	}
	if err := s.Reopen(); err != nil {
		t.Fatal(err)
	}
	if got, err := get("carto", "pw"); err != nil || got != 200 {
		t.Errorf("after Reopen: %d, %v", got, err)
	}
}
