// Package relay is a tiny TCP relay: it accepts connections on one address
// and copies their bytes, both ways, to another. carto-setup runs it as the
// hidden "relay" subcommand inside a short-lived container that publishes
// port 80, so that a wizard which may not bind port 80 itself can still
// answer on it. It knows nothing about HTTP or Docker, holds no state between
// connections and never reads or changes the bytes it forwards, apart from
// the optional PROXY protocol line it sends first.
package relay
