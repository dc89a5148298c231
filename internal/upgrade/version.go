package upgrade

import (
	"cmp"
	"regexp"
	"strings"

	"github.com/carto-setup/carto-setup/internal/installsh"
)

// releaseTagRE matches CARTO's release tags: 2026.7.16, 2026.8.11-rc.7,
// 2025.11.11-patch1.
var releaseTagRE = regexp.MustCompile(`^([0-9]{4}\.[0-9]{1,2}\.[0-9]{1,2})(?:-([0-9A-Za-z][0-9A-Za-z.]*))?$`)

// IsReleaseTag reports whether tag has the shape of a CARTO release tag.
func IsReleaseTag(tag string) bool { return releaseTagRE.MatchString(tag) }

// Prerelease reports whether tag is a release candidate (-rc.N), which
// CARTO publishes as a GitHub pre-release.
func Prerelease(tag string) bool {
	m := releaseTagRE.FindStringSubmatch(tag)
	return m != nil && strings.HasPrefix(m[2], "rc")
}

// CompareReleases orders two CARTO release versions, oldest first: the
// date parts as `sort -V` orders them (installsh.CompareVersions, the
// comparison install.sh's MIN_VERSION rule uses), then, for the same date, a
// release candidate before the release (2026.8.11-rc.7 < 2026.8.11) and the
// release before a patch of it (2025.11.11 < 2025.11.11-patch1). sort -V
// alone puts every suffix after the release, which would offer an admin on
// 2026.8.11-rc.7 no upgrade to 2026.8.11. Strings that are not release tags
// fall back to sort -V.
func CompareReleases(a, b string) int {
	ma, mb := releaseTagRE.FindStringSubmatch(a), releaseTagRE.FindStringSubmatch(b)
	if ma == nil || mb == nil {
		return installsh.CompareVersions(a, b)
	}
	if c := installsh.CompareVersions(ma[1], mb[1]); c != 0 {
		return c
	}
	if c := cmp.Compare(suffixRank(ma[2]), suffixRank(mb[2])); c != 0 {
		return c
	}
	return installsh.CompareVersions(ma[2], mb[2])
}

// suffixRank places a release candidate (-1) before the release (0) and
// any other suffix, such as a patch, after it (1).
func suffixRank(suffix string) int {
	switch {
	case suffix == "":
		return 0
	case strings.HasPrefix(suffix, "rc"):
		return -1
	}
	return 1
}
