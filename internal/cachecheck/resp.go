package cachecheck

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
)

// maxBulk bounds a bulk reply; INFO server is a few kilobytes.
const maxBulk = 1 << 20

// ServerError is an error reply ("-ERR ...", "-NOAUTH ...") from the server.
// Prefix is its first word, which classifies it.
type ServerError struct {
	Prefix  string
	Message string
}

// Error includes the server's text, which may be long; it is for logs.
func (e *ServerError) Error() string { return "cachecheck: server replied " + e.Message }

// errProtocol marks a reply that is not RESP, usually because the port is
// not Redis, or is Redis behind TLS spoken to in plain text.
var errProtocol = errors.New("cachecheck: reply is not resp")

// client is a minimal RESP client over an established connection.
type client struct {
	conn net.Conn
	r    *bufio.Reader
}

func newClient(conn net.Conn) *client {
	return &client{conn: conn, r: bufio.NewReaderSize(conn, 4096)}
}

// do sends a command as a RESP array of bulk strings and reads one reply:
// a string for simple, bulk and integer replies, *ServerError for errors.
func (c *client) do(args ...string) (string, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := io.WriteString(c.conn, b.String()); err != nil {
		return "", fmt.Errorf("cachecheck: write %s: %w", args[0], err)
	}
	return c.reply()
}

func (c *client) reply() (string, error) {
	line, err := c.line()
	if err != nil {
		return "", err
	}
	if line == "" {
		return "", errProtocol
	}
	switch line[0] {
	case '+', ':':
		return line[1:], nil
	case '-':
		msg := line[1:]
		prefix, _, _ := strings.Cut(msg, " ")
		return "", &ServerError{Prefix: prefix, Message: msg}
	case '$':
		n, err := strconv.Atoi(line[1:])
		if err != nil || n < -1 || n > maxBulk {
			return "", errProtocol
		}
		if n == -1 {
			return "", nil
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(c.r, buf); err != nil {
			return "", fmt.Errorf("cachecheck: read bulk: %w", err)
		}
		return string(buf[:n]), nil
	}
	return "", errProtocol
}

// line reads one CRLF-terminated line without its terminator.
func (c *client) line() (string, error) {
	var b []byte
	for {
		chunk, isPrefix, err := c.r.ReadLine()
		if err != nil {
			return "", fmt.Errorf("cachecheck: read reply: %w", err)
		}
		b = append(b, chunk...)
		if len(b) > maxBulk {
			return "", errProtocol
		}
		if !isPrefix {
			return string(b), nil
		}
	}
}

// infoField returns one "key:value" field of an INFO reply.
func infoField(info, key string) string {
	for _, l := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), key+":"); ok {
			return v
		}
	}
	return ""
}
