// Package composefile reads the part of a release's docker-compose.yml that
// carto-setup needs (each service's name, image, scale and volumes, in file
// order) and resolves those values against the generated .env the way
// Compose interpolates them, with envfile's one interpolator. It reads
// bytes it is given; it never runs Compose and never writes.
package composefile
