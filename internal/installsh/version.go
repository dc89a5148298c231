package installsh

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// CompareVersions orders a and b as `LC_ALL=C sort -V` does, after removing
// every double quote as install.sh does: it returns a negative number when a
// sorts first, a positive one when b does and 0 only when the two strings
// are equal. It follows GNU filevercmp: runs of digits compare as numbers,
// other characters compare with letters before other bytes and ~ before
// everything, and a trailing file suffix such as ".tar" only breaks ties;
// versions that filevercmp finds equal ("1.0" and "1.00") fall back to a
// byte comparison, as sort's last-resort comparison does.
func CompareVersions(a, b string) int {
	a, b = strings.ReplaceAll(a, `"`, ""), strings.ReplaceAll(b, `"`, "")
	if c := filevercmp(a, b); c != 0 {
		return sign(c)
	}
	return strings.Compare(a, b)
}

func sign(c int) int {
	switch {
	case c < 0:
		return -1
	case c > 0:
		return 1
	}
	return 0
}

func filevercmp(a, b string) int {
	switch {
	case a == b:
		return 0
	case a == "":
		return -1
	case b == "":
		return 1
	}
	// "." sorts first, then "..", then other names with a leading ".".
	if a[0] == '.' || b[0] == '.' {
		if a[0] != '.' {
			return 1
		}
		if b[0] != '.' {
			return -1
		}
		for _, special := range []string{".", ".."} {
			switch {
			case a == special:
				return -1
			case b == special:
				return 1
			}
		}
	}
	ap, bp := filePrefixLen(a), filePrefixLen(b)
	if r := verrevcmp(a[:ap], b[:bp]); r != 0 || (ap == len(a) && bp == len(b)) {
		return r
	}
	return verrevcmp(a, b)
}

// filePrefixLen is the length of s without its longest suffix matching
// (\.[A-Za-z~][A-Za-z0-9~]*)*$.
func filePrefixLen(s string) int {
	prefix, i := 0, 0
	for {
		for i+1 < len(s) && s[i] == '.' && (isAlpha(s[i+1]) || s[i+1] == '~') {
			for i += 2; i < len(s) && (isAlpha(s[i]) || isDigit(s[i]) || s[i] == '~'); i++ {
			}
		}
		if i >= len(s) {
			return prefix
		}
		i++
		prefix = i
	}
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isAlpha(c byte) bool { return (c|0x20) >= 'a' && (c|0x20) <= 'z' }

// order is the weight of the byte at pos in a non-digit run: the end of the
// string first, then ~, then digits, letters, and all other bytes.
func order(s string, pos int) int {
	if pos >= len(s) {
		return -1
	}
	c := s[pos]
	switch {
	case isDigit(c):
		return 0
	case isAlpha(c):
		return int(c)
	case c == '~':
		return -2
	}
	return int(c) + 256
}

func verrevcmp(a, b string) int {
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		for (i < len(a) && !isDigit(a[i])) || (j < len(b) && !isDigit(b[j])) {
			ac, bc := order(a, i), order(b, j)
			if ac != bc {
				return ac - bc
			}
			i++
			j++
		}
		for i < len(a) && a[i] == '0' {
			i++
		}
		for j < len(b) && b[j] == '0' {
			j++
		}
		first := 0
		for i < len(a) && j < len(b) && isDigit(a[i]) && isDigit(b[j]) {
			if first == 0 {
				first = int(a[i]) - int(b[j])
			}
			i++
			j++
		}
		if i < len(a) && isDigit(a[i]) {
			return 1
		}
		if j < len(b) && isDigit(b[j]) {
			return -1
		}
		if first != 0 {
			return first
		}
	}
	return 0
}

var (
	composeVersionRe = regexp.MustCompile(`(?i)compose version:? v?([0-9]+\.[0-9]+[^\s,]*)`)
	bareVersionRe    = regexp.MustCompile(`^v?([0-9]+\.[0-9]+\S*)$`)
)

// ParseComposeVersion extracts the version from the output of
// `docker-compose version` or `docker compose version`: it reads both
// "docker-compose version 1.29.2, build 5becea4c" and
// "Docker Compose version v2.27.0", as well as the bare output of --short.
func ParseComposeVersion(out string) (string, error) {
	if m := composeVersionRe.FindStringSubmatch(out); m != nil {
		return m[1], nil
	}
	if m := bareVersionRe.FindStringSubmatch(strings.TrimSpace(out)); m != nil {
		return m[1], nil
	}
	return "", fmt.Errorf("parse compose version: no version in %q", firstLine(out))
}

// ParseDockerVersion extracts the version from `docker --version` output
// ("Docker version 24.0.7, build afdd53b"), taking the third field as
// install.sh does, or accepts a bare version such as "24.0.7".
func ParseDockerVersion(out string) (string, error) {
	out = strings.TrimSpace(out)
	if m := bareVersionRe.FindStringSubmatch(out); m != nil {
		return m[1], nil
	}
	f := strings.Fields(out)
	if len(f) >= 3 && strings.EqualFold(f[0], "docker") {
		v := strings.TrimSuffix(f[2], ",")
		if m := bareVersionRe.FindStringSubmatch(v); m != nil {
			return m[1], nil
		}
	}
	return "", fmt.Errorf("parse docker version: no version in %q", firstLine(out))
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	if len(l) > 120 {
		l = l[:120]
	}
	return l
}

var errNoVersion = errors.New("empty version")

// trimVersionFile returns the version in a VERSION or MIN_VERSION file:
// surrounding white space and double quotes removed.
func trimVersionFile(b []byte) (string, error) {
	v := strings.TrimSpace(strings.ReplaceAll(string(bytes.TrimRight(b, "\n")), `"`, ""))
	if v == "" {
		return "", errNoVersion
	}
	return v, nil
}
