package cachecheck

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/carto-setup/carto-setup/internal/check"
	"github.com/carto-setup/carto-setup/internal/pgtest"
	"github.com/carto-setup/carto-setup/internal/redistest"
)

func TestReply(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    string
		wantErr error
		prefix  string
	}{
		{"simple", "+PONG\r\n", "PONG", nil, ""},
		{"integer", ":42\r\n", "42", nil, ""},
		{"bulk", "$5\r\nhello\r\n", "hello", nil, ""},
		{"nil bulk", "$-1\r\n", "", nil, ""},
		{"error", "-WRONGPASS invalid username-password pair\r\n", "", nil, "WRONGPASS"},
		{"not resp", "HTTP/1.1 400 Bad Request\r\n", "", errProtocol, ""},
		{"huge bulk", "$99999999\r\n", "", errProtocol, ""},
		{"empty line", "\r\n", "", errProtocol, ""},
		{"eof", "", "", io.EOF, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			server, clientConn := net.Pipe()
			defer clientConn.Close()
			go func() {
				defer server.Close()
				buf := make([]byte, 256)
				server.Read(buf)
				io.WriteString(server, tt.in)
			}()
			got, err := newClient(clientConn).do("PING")
			var se *ServerError
			switch {
			case tt.prefix != "":
				if !errors.As(err, &se) || se.Prefix != tt.prefix {
					t.Fatalf("err = %v, want server error %s", err, tt.prefix)
				}
			case tt.wantErr != nil:
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
			default:
				if err != nil || got != tt.want {
					t.Fatalf("got %q, %v; want %q", got, err, tt.want)
				}
			}
		})
	}
}

func TestClassify(t *testing.T) {
	se := func(msg string) error {
		p, _, _ := strings.Cut(msg, " ")
		return &ServerError{Prefix: p, Message: msg}
	}
	tests := []struct {
		name string
		err  error
		want Kind
	}{
		{"noauth", se("NOAUTH Authentication required."), NoAuth},
		{"wrongpass", se("WRONGPASS invalid username-password pair or user is disabled."), WrongPassword},
		{"redis 5 wrong password", se("ERR invalid password"), WrongPassword},
		{"no password set", se("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?"), NoPasswordConfigured},
		{"redis 5 no password set", se("ERR Client sent AUTH, but no password is set"), NoPasswordConfigured},
		{"protected mode", se("DENIED Redis is running in protected mode"), Denied},
		{"loading", se("LOADING Redis is loading the dataset in memory"), Unavailable},
		{"other", se("ERR unknown command"), Unknown},
		{"protocol", fmt.Errorf("x: %w", errProtocol), NotRedis},
		{"refused", &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}, Refused},
		{"dns", &net.DNSError{Name: "x.invalid", Err: "no such host", IsNotFound: true}, NotResolved},
		{"timeout", context.DeadlineExceeded, Timeout},
		{"eof", io.EOF, Closed},
	}
	for _, tt := range tests {
		if got := classify(tt.err, false).Kind; got != tt.want {
			t.Errorf("%s: kind %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestVersionResult(t *testing.T) {
	tests := []struct {
		info     string
		want     check.Status
		measured string
	}{
		{"# Server\r\nredis_version:7.0.15\r\n", check.Pass, "Redis 7.0.15"},
		{"redis_version:5.0.7\r\n", check.Fail, "Redis 5.0.7"},
		{"redis_version:7.2.4\r\nvalkey_version:8.0.1\r\n", check.Pass, "Valkey 8.0.1"},
		{"nothing", check.Warn, "Redis "},
	}
	for _, tt := range tests {
		r := versionResult(tt.info)
		if r.Status != tt.want || r.Measured != tt.measured {
			t.Errorf("%q: %s %q; want %s %q", tt.info, r.Status, r.Measured, tt.want, tt.measured)
		}
	}
}

type want struct {
	id      string
	status  check.Status
	field   string
	message string
}

func runCase(t *testing.T, cfg Config, wants []want) []check.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	results, err := Check(ctx, cfg)
	for _, w := range wants {
		var r check.Result
		found := false
		for _, x := range results {
			if x.ID == w.id {
				r, found = x, true
			}
		}
		if !found {
			t.Fatalf("no result %s in %+v (err %v)", w.id, results, err)
		}
		if r.Status != w.status || (w.field != "" && r.Field != w.field) || !strings.Contains(r.Message, w.message) || r.Step != Step {
			t.Errorf("%s = %s field=%q %q; want %s field=%q containing %q (err %v)", w.id, r.Status, r.Field, r.Message, w.status, w.field, w.message, err)
		}
	}
	for _, r := range results {
		if cfg.Password != "" && (strings.Contains(r.Message, cfg.Password) || strings.Contains(r.Hint, cfg.Password)) {
			t.Errorf("%s leaks the password", r.ID)
		}
	}
	return results
}

func TestRunPlain(t *testing.T) {
	open := redistest.Start(t, redistest.Options{})
	locked := redistest.Start(t, redistest.Options{Password: "s3cret"})
	tests := []struct {
		name  string
		cfg   Config
		wants []want
	}{
		{"no password", Config{Host: open.Host, Port: open.Port}, []want{
			{IDConnect, check.Pass, "", ""}, {IDTLS, check.Pass, FieldTLS, "TLS is off"},
			{IDAuth, check.Pass, FieldPassword, "does not require"}, {IDPing, check.Pass, "", ""}, {IDVersion, check.Pass, "", "Redis"},
		}},
		{"password", Config{Host: locked.Host, Port: locked.Port, Password: "s3cret"}, []want{
			{IDAuth, check.Pass, FieldPassword, "accepted"}, {IDPing, check.Pass, "", ""}, {IDVersion, check.Pass, "", ""},
		}},
		{"wrong password", Config{Host: locked.Host, Port: locked.Port, Password: "nope"}, []want{{IDAuth, check.Fail, FieldPassword, "rejected the password"}}},
		{"password missing", Config{Host: locked.Host, Port: locked.Port}, []want{{IDAuth, check.Fail, FieldPassword, "requires a password"}}},
		{"password not needed", Config{Host: open.Host, Port: open.Port, Password: "extra"}, []want{
			{IDAuth, check.Warn, FieldPassword, "does not require one"}, {IDPing, check.Pass, "", ""},
		}},
		// Redis waits for a newline that a ClientHello lacks, so this
		// takes the 5-second handshake timeout.
		{"tls against plain server", Config{Host: open.Host, Port: open.Port, TLS: true}, []want{{IDTLS, check.Error, FieldTLS, "did not complete the TLS handshake"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { runCase(t, tt.cfg, tt.wants) })
	}
}

func TestRunTLS(t *testing.T) {
	s := redistest.Start(t, redistest.Options{TLS: true, Password: "tls-pw", CertHosts: []string{"localhost"}})
	mtls := redistest.Start(t, redistest.Options{ClientCert: true})
	other := pgtest.NewCA(t)
	tests := []struct {
		name  string
		cfg   Config
		wants []want
	}{
		{"verified", Config{Host: "localhost", Port: s.Port, Password: "tls-pw", TLS: true, CAPEM: s.CAPEM}, []want{
			{IDTLS, check.Pass, FieldTLS, "uploaded CA"}, {IDAuth, check.Pass, "", ""}, {IDPing, check.Pass, "", ""},
		}},
		{"wrong ca", Config{Host: "localhost", Port: s.Port, Password: "tls-pw", TLS: true, CAPEM: other.PEM}, []want{{IDTLS, check.Fail, FieldCA, "not signed by the uploaded CA"}}},
		{"system roots", Config{Host: "localhost", Port: s.Port, TLS: true}, []want{{IDTLS, check.Fail, FieldCA, "CA this VM trusts"}}},
		{"name mismatch", Config{Host: "127.0.0.1", Port: s.Port, TLS: true, CAPEM: s.CAPEM}, []want{{IDTLS, check.Fail, FieldHost, `not valid for "127.0.0.1"`}}},
		{"plain against tls server", Config{Host: "127.0.0.1", Port: s.Port}, []want{{IDPing, check.Fail, FieldTLS, "expects TLS"}}},
		{"bad ca upload", Config{Host: "localhost", Port: s.Port, TLS: true, CAPEM: []byte("junk")}, []want{{IDConfig, check.Fail, FieldCA, "not a PEM"}}},
		{"client certificate", Config{Host: "localhost", Port: mtls.Port, TLS: true, CAPEM: mtls.CAPEM}, []want{{IDTLS, check.Fail, FieldTLS, "client certificate"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { runCase(t, tt.cfg, tt.wants) })
	}
}

func TestRunUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	runCase(t, Config{Host: "127.0.0.1", Port: port}, []want{{IDConnect, check.Fail, FieldPort, "refused"}})
	runCase(t, Config{Host: "nonexistent.invalid", Port: port}, []want{{IDConnect, check.Fail, FieldHost, "does not resolve"}})
	runCase(t, Config{Host: "", Port: port}, []want{{IDConfig, check.Fail, FieldHost, "Enter the cache host"}})
}
