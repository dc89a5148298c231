// Package imagebundle writes and reads the offline image bundle: every image
// of a release in one file, for hosts that cannot reach the registry. The
// bundle is a tar of the Docker Engine's own `docker save` entries (large
// ones gzip-compressed one by one) followed by a manifest (image, ID,
// registry digest, size, the entries each image needs, a SHA-256 per entry)
// and the manifest's own checksum. Loading verifies every entry against the
// manifest before the engine sees a byte, so a damaged bundle is refused
// naming the images it affects. It never pulls and never writes outside the
// file it is given (and the temporary spool of one entry while saving).
package imagebundle
