// Package custpkg reads and validates the customer package CARTO sends (a
// zip, or customer.env and key.json uploaded separately): it opens the zip
// defensively, checks customer.env and key.json, and builds a summary that
// holds no secret. It only reads bytes it is given; it does not store the
// files, write customer.env or show anything to the user.
package custpkg
