// Package installsh does natively what CARTO's install.sh does: it checks
// the tools and files (step A), generates .env byte for byte from
// customer.env, VERSION and env.tpl and copies key.json into certs/ (step B),
// and checks the result (step C), treating every condition as a real
// failure. It orders versions as `sort -V` does. It does not detect the
// installed tools itself (the caller measures them) and never starts Docker.
package installsh
