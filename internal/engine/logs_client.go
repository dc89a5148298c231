package engine

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"time"

	"github.com/moby/moby/client"
)

// logReadBuffer is how much a log client reads from the daemon at once.
// The daemon writes every log message on its own; a follower that takes a
// busy container's lines in batches gets up to this much per read(2)
// instead of the HTTP transport's default 4 KiB.
const logReadBuffer = 64 << 10

// NewLogClient is New for following logs: a client of its own, whose
// transport reads logReadBuffer bytes at a time, so that the long-lived
// log streams neither share connections with the wizard's other requests
// nor pay a system call per 4 KiB.
func NewLogClient(ctx context.Context) (*Client, error) {
	// The same transport settings as the library's default client, with
	// a larger read buffer; pointed at the default socket, or where the
	// environment says. An empty TLSNextProto keeps the transport from
	// setting itself up for HTTP/2 when the library clones it, which would
	// give it a TLS configuration and make the library speak HTTPS to a
	// plain socket.
	hc := &http.Client{
		Transport: &http.Transport{MaxIdleConns: 6, IdleConnTimeout: 30 * time.Second, ReadBufferSize: logReadBuffer,
			TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{}},
		CheckRedirect: client.CheckRedirect,
	}
	api, err := client.New(client.WithHTTPClient(hc), client.WithHost(client.DefaultDockerHost), client.FromEnv)
	if err != nil {
		return nil, fmt.Errorf("engine: log client: %w", err)
	}
	if _, err := api.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
		api.Close()
		return nil, fmt.Errorf("engine: ping %s: %w", api.DaemonHost(), err)
	}
	return &Client{api: api}, nil
}
