package pgtest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func TestStart(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		host string
		ssl  bool
	}{
		{name: "plain", opts: Options{}},
		{name: "tls", opts: Options{TLS: true}, ssl: true},
		{name: "extra listen address", opts: Options{ListenAddrs: []string{"127.0.0.2"}}, host: "127.0.0.2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Start(t, tt.opts)
			s.Exec(t, "CREATE ROLE probe LOGIN PASSWORD 'x'")
			host := s.Host
			if tt.host != "" {
				host = tt.host
			}
			cfg, err := pgx.ParseConfig(fmt.Sprintf("host=%s port=%d user=%s password=%s dbname=postgres sslmode=disable",
				host, s.Port, s.User, s.Password))
			if err != nil {
				t.Fatal(err)
			}
			if tt.ssl {
				pool := x509.NewCertPool()
				pool.AppendCertsFromPEM(s.CAPEM)
				cfg.TLSConfig = &tls.Config{RootCAs: pool, ServerName: "localhost"}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			conn, err := pgx.ConnectConfig(ctx, cfg)
			if err != nil {
				t.Fatalf("connect over TCP: %v\n%s", err, s.Log())
			}
			defer conn.Close(ctx)
			var ssl bool
			if err := conn.QueryRow(ctx, "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").Scan(&ssl); err != nil {
				t.Fatal(err)
			}
			if ssl != tt.ssl {
				t.Errorf("ssl = %v, want %v", ssl, tt.ssl)
			}
		})
	}
}
