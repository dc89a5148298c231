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
	c, err := LogClient()
	if err != nil {
		return nil, err
	}
	if _, err := c.api.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
		c.api.Close()
		return nil, fmt.Errorf("engine: ping %s: %w", c.api.DaemonHost(), err)
	}
	return c, nil
}

// LogClient is NewLogClient without asking the daemon anything: for a
// follower that starts with the wizard whether Docker runs yet or not and
// retries until it does. The API version is agreed on the first request.
// It fails only on a malformed DOCKER_HOST or similar setting.
func LogClient() (*Client, error) {
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
	return &Client{api: api}, nil
}
