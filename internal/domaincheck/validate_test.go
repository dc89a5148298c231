package domaincheck

import (
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	long63 := strings.Repeat("a", 63)
	long64 := strings.Repeat("a", 64)
	// 4 labels of 63 plus 3 dots is 255 characters, past the 253 limit.
	tooLong := strings.Join([]string{long63, long63, long63, long63}, ".")
	// 3 labels of 63 and one of 61, plus dots, is exactly 253.
	maxLen := strings.Join([]string{long63, long63, long63, strings.Repeat("b", 61)}, ".")
	const root = "CARTO must live at the root of its own domain (https://my.domain.com/carto is not supported)"

	tests := []struct {
		name, input, domain, problem string
	}{
		// Accepted, normalised.
		{"plain", "carto.example.com", "carto.example.com", ""},
		{"two labels", "example.com", "example.com", ""},
		{"deep subdomain", "a.b.c.d.example.co.uk", "a.b.c.d.example.co.uk", ""},
		{"spaces trimmed", "  carto.example.com \t\n", "carto.example.com", ""},
		{"upper case", "CARTO.Example.COM", "carto.example.com", ""},
		{"trailing dot", "carto.example.com.", "carto.example.com", ""},
		{"digits and hyphens", "carto-1.my-company2.com", "carto-1.my-company2.com", ""},
		{"all-digit label not last", "123.example.com", "123.example.com", ""},
		{"internationalized", "mapas.bücher.de", "mapas.xn--bcher-kva.de", ""},
		{"internationalized upper case", "MAPAS.BÜCHER.DE", "mapas.xn--bcher-kva.de", ""},
		{"fullwidth dot mapped", "carto。example。com", "carto.example.com", ""},
		{"punycode typed directly", "mapas.xn--bcher-kva.de", "mapas.xn--bcher-kva.de", ""},
		{"label of 63", long63 + ".com", long63 + ".com", ""},
		{"name of 253", maxLen, maxLen, ""},

		// Empty.
		{"empty", "", "", "Enter the domain CARTO will be served at, for example carto.example.com"},
		{"blank", "   ", "", "Enter the domain CARTO will be served at, for example carto.example.com"},

		// Parts of a URL to remove.
		{"https scheme", "https://carto.example.com", "", `Remove "https://"`},
		{"http scheme", "http://carto.example.com", "", `Remove "http://"`},
		{"scheme as typed", "HTTPS://carto.example.com", "", `Remove "HTTPS://"`},
		{"scheme-relative", "//carto.example.com", "", `Remove "//"`},
		{"scheme only", "https://", "", "Enter the domain name itself, for example carto.example.com"},
		{"port", "carto.example.com:8443", "", `Remove the port ":8443"`},
		{"empty port", "carto.example.com:", "", `Remove the port ":"`},
		{"path", "carto.example.com/carto", "", `Remove the path "/carto": ` + root},
		{"scheme and path", "https://my.domain.com/carto", "", `Remove "https://" and the path "/carto": ` + root},
		{"scheme port and path", "https://carto.example.com:8443/carto/", "", `Remove "https://", the port ":8443" and the path "/carto/": ` + root},
		{"trailing slash", "carto.example.com/", "", `Remove the trailing "/"`},
		{"scheme and trailing slash", "https://carto.example.com/", "", `Remove "https://" and the trailing "/"`},
		{"query", "carto.example.com?x=1", "", `Remove the query "?x=1"`},
		{"fragment", "carto.example.com#top", "", `Remove the fragment "#top"`},
		{"path query fragment", "carto.example.com/a?b=c#d", "", `Remove the path "/a", the query "?b=c" and the fragment "#d": ` + root},
		{"user info", "admin@carto.example.com", "", `Remove the user name "admin@"`},
		{"user and password", "https://admin:secret@carto.example.com", "", `Remove "https://" and the user name and password before "@"`},
		{"wildcard", "*.example.com", "", `Remove the wildcard "*.": enter the one name CARTO will be served at, for example carto.example.com`},
		{"bare wildcard", "*", "", "Enter the one name CARTO will be served at, for example carto.example.com: a wildcard is not supported"},
		{"inner wildcard", "carto.*.com", "", "Enter the one name CARTO will be served at, for example carto.example.com: a wildcard is not supported"},
		{"trailing comma", "carto.example.com,", "", `Remove "," after the domain`},
		{"second word", "carto.example.com and more", "", `Remove " and more" after the domain`},
		{"second name", "carto.example.com, other.example.com", "", `Remove ", other.example.com" after the domain`},
		{"junk after port", "carto.example.com:8443 x", "", `Remove the port ":8443" and " x" after the domain`},
		{"junk with colon", "carto.example.com; see:notes", "", `Remove "; see:notes" after the domain`},
		{"junk after path", "https://carto.example.com/x", "", `Remove "https://" and the path "/x": ` + root},
		{"quoted", `"carto.example.com"`, "", `Remove "\"" at the start and "\"" after the domain`},
		{"angle brackets", "<carto.example.com>", "", `Remove "<" at the start and ">" after the domain`},

		// IP addresses.
		{"ipv4", "203.0.113.10", "", ipProblem},
		{"ipv4 with port", "203.0.113.10:80", "", ipProblem},
		{"ipv4 url", "http://203.0.113.10/", "", ipProblem},
		{"ipv6", "2001:db8::1", "", ipProblem},
		{"ipv6 bracketed with port", "[2001:db8::1]:443", "", ipProblem},
		{"ipv4 trailing dot", "203.0.113.10.", "", ipProblem},
		{"numeric last label", "10.0.0", "", ipProblem},

		// Not a fully qualified name.
		{"single label", "carto", "", `Enter the full domain name, for example carto.example.com: "carto" has no dot`},
		{"localhost", "localhost", "", `Enter the full domain name, for example localhost.example.com: "localhost" has no dot`},
		{"double dot", "carto..example.com", "", "The domain has an empty part: remove the extra dot"},
		{"leading dot", ".example.com", "", "The domain has an empty part: remove the extra dot"},
		{"two trailing dots", "carto.example.com..", "", "The domain has an empty part: remove the extra dot"},
		{"leading hyphen", "-carto.example.com", "", `The part "-carto" cannot start or end with a hyphen`},
		{"trailing hyphen", "carto-.example.com", "", `The part "carto-" cannot start or end with a hyphen`},
		{"label of 64", long64 + ".com", "", `The part "` + long64 + `" is 64 characters long; each part between dots can have at most 63`},
		{"name of 255", tooLong, "", "The domain is 255 characters long; the maximum is 253"},
		{"underscore", "carto_web.example.com", "", `A domain name cannot contain "_": use only letters, digits, hyphens and dots`},
		{"inner space", "carto .example.com", "", "A domain name cannot contain spaces"},
		{"dollar", "car$to.example.com", "", `A domain name cannot contain "$": use only letters, digits, hyphens and dots`},
		{"symbol allowed by UTS 46", "carto.ex☃ample.com", "carto.xn--example-bz6d.com", ""},
		{"leading combining mark", "carto.\u0301abc.com", "", "\"carto.\u0301abc.com\" is not a valid internationalized domain name"},
		{"fullwidth underscore", "carto.ex＿ample.com", "", `"carto.ex＿ample.com" is not a valid internationalized domain name`},
		{"trailing non-breaking space", "carto.example.com\u00a0", "carto.example.com", ""},
		{"invalid punycode", "carto.xn--a.com", "", `"carto.xn--a.com" is not a valid internationalized domain name`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			domain, problem := Validate(tt.input)
			if domain != tt.domain || problem != tt.problem {
				t.Errorf("Validate(%q)\n got (%q, %q)\nwant (%q, %q)", tt.input, domain, problem, tt.domain, tt.problem)
			}
		})
	}
}
