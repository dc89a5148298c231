package redistest

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

func TestStart(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		send string
		want string
	}{
		{name: "plain", opts: Options{}, send: "PING", want: "+PONG"},
		{name: "password required", opts: Options{Password: "s3cret"}, send: "PING", want: "-NOAUTH"},
		{name: "password", opts: Options{Password: "s3cret"}, send: "AUTH s3cret", want: "+OK"},
		{name: "tls", opts: Options{TLS: true}, send: "PING", want: "+PONG"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Start(t, tt.opts)
			var conn net.Conn
			var err error
			if s.TLS {
				conn, err = tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", s.Addr(), s.TLSConfig())
			} else {
				conn, err = net.DialTimeout("tcp", s.Addr(), 5*time.Second)
			}
			if err != nil {
				t.Fatalf("dial: %v\n%s", err, s.Log())
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(5 * time.Second))
			fmt.Fprintf(conn, "%s\r\n", tt.send)
			line, err := bufio.NewReader(conn).ReadString('\n')
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			if !strings.HasPrefix(line, tt.want) {
				t.Errorf("reply %q, want prefix %q", line, tt.want)
			}
		})
	}
}
