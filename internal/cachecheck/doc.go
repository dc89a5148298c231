// Package cachecheck checks an external Redis or Valkey server the way the
// CARTO stack will use it: TCP, optional TLS verified against the uploaded
// CA and the host name, AUTH with the configured password, PING, and the
// server version (Redis 6 or later). It speaks just enough RESP for that and
// never writes to the server.
package cachecheck
