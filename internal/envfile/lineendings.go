package envfile

import "bytes"

// HasCRLF reports whether data has Windows line endings (CR LF) anywhere.
func HasCRLF(data []byte) bool { return bytes.Contains(data, []byte("\r\n")) }

// NormaliseLineEndings returns data with every CR LF turned into LF, which
// is what bash `source` (CARTO's download tool) and python-dotenv need: a
// CR left before the LF ends up at the end of a sourced value. Compose v2
// trims it from unquoted values already, so only quoted values that span
// lines read differently afterwards, without their CRs. A lone CR is kept.
// data itself is not modified.
func NormaliseLineEndings(data []byte) []byte {
	return bytes.ReplaceAll(data, []byte("\r\n"), []byte("\n"))
}

// StripBOM returns data without a leading UTF-8 byte order mark, which bash
// `source` and python-dotenv read as part of the first line (Compose v2
// skips it). data itself is not modified.
func StripBOM(data []byte) []byte { return bytes.TrimPrefix(data, []byte("\uFEFF")) }
