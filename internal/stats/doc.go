// Package stats samples the CPU and memory use of a Compose project's
// containers from the Docker Engine's stats API into a bounded ring per
// service that covers the last hour, for the Status page's charts. Series
// are kept by Compose service, so a recreated container continues its
// service's series. It reads the engine only, keeps nothing on disk and
// draws nothing: the page renders the series.
package stats
