package envfile

import "bytes"

// HasCRLF reports whether data has Windows line endings (CR LF) anywhere.
func HasCRLF(data []byte) bool { return bytes.Contains(data, []byte("\r\n")) }

// NormalizeNewlines returns data with every CR LF turned into LF and a
// leading UTF-8 byte order mark dropped, and whether anything changed.
// bash `source` (CARTO's download tool) and python-dotenv keep a CR before
// the LF at the end of the value and read a BOM as part of the first key;
// Compose v2 trims both, so only quoted values that span lines read
// differently afterwards, without their CRs. A lone CR is kept. data
// itself is not modified.
func NormalizeNewlines(data []byte) ([]byte, bool) {
	out := bytes.TrimPrefix(data, []byte("\uFEFF"))
	if bytes.Contains(out, []byte("\r\n")) {
		out = bytes.ReplaceAll(out, []byte("\r\n"), []byte("\n"))
	}
	return out, len(out) != len(data)
}
