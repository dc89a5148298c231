package domaincheck

import (
	"fmt"
	"net"
	"strings"
	"unicode"

	"golang.org/x/net/idna"
)

// Length limits of a DNS name in its ASCII form (RFC 1035), not counting the
// trailing dot.
const (
	maxNameLen  = 253
	maxLabelLen = 63
)

const ipProblem = "Enter a domain name, not an IP address: CARTO needs a name for its URLs and its TLS certificate"

// Validate turns what the admin typed into the domain CARTO will use, or
// says what is wrong with it. It trims spaces, lower-cases, converts an
// internationalized name to its ASCII (xn--) form and drops one trailing dot.
// The result must be a fully qualified name: at least two labels of 1-63
// letters, digits or hyphens, no hyphen at either end of a label, 253
// characters at most, and not an IP address. When the input carries a scheme,
// user name, wildcard, port, path, query, fragment or trailing text, problem
// names exactly what to remove, because admins often paste a URL. domain is
// empty whenever problem is not.
func Validate(input string) (domain, problem string) {
	s := strings.TrimSpace(input)
	if s == "" {
		return "", "Enter the domain CARTO will be served at, for example carto.example.com"
	}

	var remove []string // what to remove, in the order it appears
	reason := ""

	if lead := leadingJunk(s); lead != "" {
		remove = append(remove, fmt.Sprintf("%q at the start", lead))
		s = s[len(lead):]
	}
	if i := strings.Index(s, "://"); i > 0 && isScheme(s[:i]) {
		remove = append(remove, fmt.Sprintf("%q", s[:i+3]))
		s = s[i+3:]
	} else if strings.HasPrefix(s, "//") {
		remove = append(remove, `"//"`)
		s = s[2:]
	}

	host, tail := s, ""
	if i := strings.IndexAny(s, `/?#\`); i >= 0 {
		host, tail = s[:i], s[i:]
	}
	if i := strings.LastIndex(host, "@"); i >= 0 {
		if strings.Contains(host[:i], ":") {
			// Never echo a password, even back to the one who typed it.
			remove = append(remove, `the user name and password before "@"`)
		} else {
			remove = append(remove, fmt.Sprintf("the user name %q", host[:i+1]))
		}
		host = host[i+1:]
	}
	if isIP(host) || strings.HasPrefix(host, "[") {
		return "", ipProblem
	}
	port := ""
	if i := strings.LastIndex(host, ":"); i >= 0 {
		host, port = host[:i], host[i:]
	}
	portJunk := ""
	if j := strings.IndexFunc(port, isTrailingJunk); j > 0 {
		port, portJunk = port[:j], port[j:]
	}
	if isIP(host) {
		return "", ipProblem
	}
	switch {
	case strings.HasPrefix(host, "*."):
		remove = append(remove, `the wildcard "*."`)
		host = host[2:]
		reason = "enter the one name CARTO will be served at, for example carto.example.com"
	case host == "*":
		return "", "Enter the one name CARTO will be served at, for example carto.example.com: a wildcard is not supported"
	}

	// Text after the name that cannot belong to it, such as a comma or a
	// second word pasted along, is named as a whole.
	if i := strings.IndexFunc(host, isTrailingJunk); i > 0 && strings.Contains(host[:i], ".") {
		junk := host[i:]
		host = host[:i]
		if port != "" { // the ":" belonged to the junk, not to a port
			junk += port + portJunk
			port, portJunk = "", ""
		}
		remove = append(remove, fmt.Sprintf("%q after the domain", junk))
	}
	if portJunk != "" {
		remove = append(remove, fmt.Sprintf("%q after the domain", portJunk))
	}
	if port != "" {
		remove = insertBeforeJunk(remove, fmt.Sprintf("the port %q", port))
	}
	if tail != "" {
		parts, pathReason := tailParts(tail)
		remove = insertBeforeJunk(remove, parts...)
		if pathReason != "" {
			reason = pathReason
		}
	}

	if len(remove) > 0 {
		if host == "" {
			return "", "Enter the domain name itself, for example carto.example.com"
		}
		msg := "Remove " + joinAnd(remove)
		if reason != "" {
			msg += ": " + reason
		}
		return "", msg
	}

	host = strings.TrimSuffix(host, ".")
	if isIP(host) {
		return "", ipProblem
	}
	if i := strings.IndexFunc(host, isBadASCII); i >= 0 {
		r := []rune(host[i:])[0]
		if unicode.IsSpace(r) {
			return "", "A domain name cannot contain spaces"
		}
		if r == '*' {
			return "", "Enter the one name CARTO will be served at, for example carto.example.com: a wildcard is not supported"
		}
		return "", fmt.Sprintf("A domain name cannot contain %q: use only letters, digits, hyphens and dots", string(r))
	}

	ascii := strings.ToLower(host)
	if !isASCII(host) {
		a, err := idna.Lookup.ToASCII(host)
		if err != nil {
			return "", fmt.Sprintf("%q is not a valid internationalized domain name", host)
		}
		ascii = strings.ToLower(a)
	}
	if p := checkLabels(ascii); p != "" {
		return "", p
	}
	// ToUnicode validates xn-- labels typed directly; an invalid punycode
	// label would make every later check and certificate request fail.
	if _, err := idna.Lookup.ToUnicode(ascii); err != nil {
		return "", fmt.Sprintf("%q is not a valid internationalized domain name", ascii)
	}
	return ascii, ""
}

// checkLabels applies the hostname rules to an ASCII, lower-case name.
func checkLabels(name string) string {
	if len(name) > maxNameLen {
		return fmt.Sprintf("The domain is %d characters long; the maximum is %d", len(name), maxNameLen)
	}
	labels := strings.Split(name, ".")
	for _, l := range labels {
		switch {
		case l == "":
			return "The domain has an empty part: remove the extra dot"
		case len(l) > maxLabelLen:
			return fmt.Sprintf("The part %q is %d characters long; each part between dots can have at most %d", l, len(l), maxLabelLen)
		case strings.HasPrefix(l, "-") || strings.HasSuffix(l, "-"):
			return fmt.Sprintf("The part %q cannot start or end with a hyphen", l)
		}
	}
	if len(labels) < 2 {
		return fmt.Sprintf("Enter the full domain name, for example %s.example.com: %q has no dot", name, name)
	}
	if last := labels[len(labels)-1]; strings.Trim(last, "0123456789") == "" {
		return ipProblem
	}
	return ""
}

// tailParts names the path, query and fragment of a URL tail that starts
// with one of "/?#\", and gives the reason to show when a real path is there.
func tailParts(tail string) (parts []string, reason string) {
	path, query, fragment := tail, "", ""
	if i := strings.Index(path, "#"); i >= 0 {
		path, fragment = path[:i], path[i:]
	}
	if i := strings.Index(path, "?"); i >= 0 {
		path, query = path[:i], path[i:]
	}
	switch path {
	case "":
	case "/", `\`:
		parts = append(parts, fmt.Sprintf("the trailing %q", path))
	default:
		parts = append(parts, fmt.Sprintf("the path %q", path))
		reason = "CARTO must live at the root of its own domain (https://my.domain.com/carto is not supported)"
	}
	if query != "" {
		parts = append(parts, fmt.Sprintf("the query %q", query))
	}
	if fragment != "" {
		parts = append(parts, fmt.Sprintf("the fragment %q", fragment))
	}
	return parts, reason
}

// insertBeforeJunk adds parts before a trailing "... after the domain" entry
// so the message lists things in the order they appear in the input.
func insertBeforeJunk(remove []string, parts ...string) []string {
	if n := len(remove); n > 0 && strings.HasSuffix(remove[n-1], " after the domain") {
		junk := remove[n-1]
		return append(append(remove[:n-1:n-1], parts...), junk)
	}
	return append(remove, parts...)
}

// joinAnd joins items as "a", "a and b" or "a, b and c".
func joinAnd(items []string) string {
	switch len(items) {
	case 0:
		return ""
	case 1:
		return items[0]
	}
	return strings.Join(items[:len(items)-1], ", ") + " and " + items[len(items)-1]
}

// leadingJunk returns the quotes or brackets an input starts with, which
// come along when a name is copied out of a document or an e-mail.
func leadingJunk(s string) string {
	end := strings.IndexFunc(s, func(r rune) bool { return !strings.ContainsRune(`"'<({`+"`", r) })
	if end < 0 {
		return s
	}
	return s[:end]
}

// isScheme reports whether s looks like a URL scheme ("https", "http").
func isScheme(s string) bool {
	for i, r := range s {
		letter := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z'
		if !letter && (i == 0 || !(r >= '0' && r <= '9' || r == '+' || r == '-' || r == '.')) {
			return false
		}
	}
	return s != ""
}

// isTrailingJunk reports characters that end a name pasted along with other
// text. Characters that could sit inside a mistyped name ("_", "*") are not
// junk: they get their own message.
func isTrailingJunk(r rune) bool {
	return unicode.IsSpace(r) || strings.ContainsRune(`,;"'<>()[]{}|!`+"`", r)
}

// isBadASCII reports ASCII characters that cannot appear in a host name.
// Non-ASCII runes are left to IDNA.
func isBadASCII(r rune) bool {
	if r >= 0x80 {
		return false
	}
	return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.')
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func isIP(s string) bool {
	return net.ParseIP(strings.TrimSuffix(s, ".")) != nil
}
