// Command pgping logs in to PostgreSQL from inside a FROM-scratch container
// for demopg's test: pgping HOST PORT USER PASSWORD [CA-PEM]. With a CA it
// verifies the server certificate for HOST. It prints "ok <the address the
// server saw>" or "error: <reason>" and exits 1.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) < 4 {
		return fmt.Errorf("usage: pgping HOST PORT USER PASSWORD [CA-PEM]")
	}
	port, err := strconv.Atoi(args[1])
	if err != nil {
		return err
	}
	cfg, err := pgx.ParseConfig("sslmode=disable dbname=postgres")
	if err != nil {
		return err
	}
	cfg.Host, cfg.Port, cfg.User, cfg.Password = args[0], uint16(port), args[2], args[3]
	if len(args) > 4 {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM([]byte(args[4])) {
			return fmt.Errorf("the CA is not PEM")
		}
		cfg.TLSConfig = &tls.Config{RootCAs: pool, ServerName: args[0], MinVersion: tls.VersionTLS12}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	var seen string
	var ssl bool
	if err := conn.QueryRow(ctx, "SELECT host(inet_client_addr()), ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").Scan(&seen, &ssl); err != nil {
		return err
	}
	fmt.Println("ok", seen, "ssl="+strconv.FormatBool(ssl))
	return nil
}
