package installsh

import (
	"bytes"
	"strings"
)

const (
	legacyPasswordKey = "POSTGRES_PASSWORD"
	adminPasswordKey  = "POSTGRES_ADMIN_PASSWORD"
)

// RenamePostgresPassword renames the legacy POSTGRES_PASSWORD the way
// install.sh's `sed s/^POSTGRES_PASSWORD/POSTGRES_ADMIN_PASSWORD/` does:
// on every line that starts with those bytes, and only there. Applying it
// twice changes nothing more.
func RenamePostgresPassword(customerEnv []byte) []byte {
	lines := bytes.SplitAfter(customerEnv, []byte("\n"))
	var out bytes.Buffer
	out.Grow(len(customerEnv) + 8)
	for _, l := range lines {
		if rest, ok := bytes.CutPrefix(l, []byte(legacyPasswordKey)); ok {
			out.WriteString(adminPasswordKey)
			l = rest
		}
		out.Write(l)
	}
	return out.Bytes()
}

// DotEnv returns the .env that step B of install.sh writes: customer.env
// (after RenamePostgresPassword), a line break, the CARTO VERSION banner,
// CARTO_SELFHOSTED_VERSION set to VERSION without its trailing newlines, the
// closing banner, and env.tpl unchanged. When customer.env does not end in a
// newline, that first line break ends its last line, so no blank line
// precedes the banner, exactly as with install.sh.
func DotEnv(customerEnv, version, envTpl []byte) []byte {
	var b bytes.Buffer
	b.Write(RenamePostgresPassword(customerEnv))
	b.WriteString("\n")
	b.WriteString("# " + strings.Repeat("<", 31) + " CARTO VERSION " + strings.Repeat("<", 32) + "\n")
	b.WriteString("\n")
	b.WriteString("CARTO_SELFHOSTED_VERSION=")
	b.Write(bytes.TrimRight(version, "\n"))
	b.WriteString("\n")
	b.WriteString("\n")
	b.WriteString("# " + strings.Repeat(">", 78) + "\n")
	b.WriteString("\n")
	b.Write(envTpl)
	return b.Bytes()
}
