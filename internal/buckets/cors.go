package buckets

import (
	"fmt"
	"slices"
	"strings"
)

// CORSRule is one provider CORS rule in a common shape. Headers are the
// request headers a browser may send (GCS lists them as responseHeader).
type CORSRule struct {
	Origins []string
	Methods []string
	Headers []string
	MaxAge  int
}

// corsMaxAge is the preflight cache time CARTO's documentation asks for.
const corsMaxAge = 3600

// requiredCORS returns the rule CARTO needs on provider (carto-facts 3.5).
func requiredCORS(provider string) CORSRule {
	r := CORSRule{
		Origins: []string{"*"},
		Methods: []string{"GET", "PUT", "POST"},
		Headers: []string{"Content-Type", "Content-MD5", "Content-Disposition", "Cache-Control"},
		MaxAge:  corsMaxAge,
	}
	switch provider {
	case ProviderGCS:
		r.Headers = append(r.Headers, "x-goog-content-length-range", "x-goog-meta-filename")
	case ProviderAzure:
		r.Headers = append(r.Headers, "Access-Control-Request-Headers", "X-MS-Blob-Type")
	}
	return r
}

// corsGap is what the closest existing rule lacks.
type corsGap struct {
	Origins []string
	Methods []string
	Headers []string
	MaxAge  bool
}

func (g corsGap) empty() bool {
	return len(g.Origins) == 0 && len(g.Methods) == 0 && len(g.Headers) == 0 && !g.MaxAge
}

// String names each missing part, e.g. "methods PUT, POST; headers X-MS-Blob-Type".
func (g corsGap) String() string {
	var parts []string
	if len(g.Origins) > 0 {
		parts = append(parts, "origin "+strings.Join(g.Origins, ", "))
	}
	if len(g.Methods) > 0 {
		parts = append(parts, "methods "+strings.Join(g.Methods, ", "))
	}
	if len(g.Headers) > 0 {
		parts = append(parts, "headers "+strings.Join(g.Headers, ", "))
	}
	if g.MaxAge {
		parts = append(parts, fmt.Sprintf("max age %d", corsMaxAge))
	}
	return strings.Join(parts, "; ")
}

// compareCORS returns what the best of rules lacks compared with want. A
// browser applies the first rule that matches a request as a whole, so the
// requirement has to be met by one rule, not by the union of several.
func compareCORS(rules []CORSRule, want CORSRule) corsGap {
	best := missingFrom(CORSRule{}, want)
	for _, r := range rules {
		g := missingFrom(r, want)
		if gapSize(g) < gapSize(best) {
			best = g
		}
	}
	return best
}

func gapSize(g corsGap) int {
	n := len(g.Origins)*100 + len(g.Methods)*10 + len(g.Headers)
	if g.MaxAge {
		n++
	}
	return n
}

func missingFrom(have, want CORSRule) corsGap {
	var g corsGap
	if !containsFold(have.Origins, "*") {
		g.Origins = []string{"*"}
	}
	for _, m := range want.Methods {
		if !containsFold(have.Methods, m) {
			g.Methods = append(g.Methods, m)
		}
	}
	if !containsFold(have.Headers, "*") {
		for _, h := range want.Headers {
			if !containsFold(have.Headers, h) {
				g.Headers = append(g.Headers, h)
			}
		}
	}
	g.MaxAge = have.MaxAge < want.MaxAge
	return g
}

func containsFold(list []string, s string) bool {
	return slices.ContainsFunc(list, func(v string) bool { return strings.EqualFold(strings.TrimSpace(v), s) })
}

// CORSFix returns the text an admin runs to give bucket the CORS rule CARTO
// needs: the file to save and the provider's command. For Azure the rule is
// set on the storage account, so pass the account name as bucket.
func CORSFix(provider, bucket string) string {
	r := requiredCORS(provider)
	switch provider {
	case ProviderGCS:
		return fmt.Sprintf(`Save as cors.json:
[
  {
    "origin": ["*"],
    "method": ["GET", "PUT", "POST"],
    "responseHeader": [%s],
    "maxAgeSeconds": %d
  }
]

Then run (it replaces the bucket's CORS rules; add any you keep to cors.json):
gsutil cors set cors.json gs://%s
`, quoteJoin(r.Headers, ", "), corsMaxAge, bucket)
	case ProviderS3:
		return fmt.Sprintf(`Save as cors.json:
{
  "CORSRules": [
    {
      "AllowedOrigins": ["*"],
      "AllowedMethods": ["GET", "PUT", "POST"],
      "AllowedHeaders": [%s],
      "MaxAgeSeconds": %d
    }
  ]
}

Then run (it replaces the bucket's CORS rules; add any you keep to cors.json):
aws s3api put-bucket-cors --bucket %s --cors-configuration file://cors.json
`, quoteJoin(r.Headers, ", "), corsMaxAge, bucket)
	case ProviderAzure:
		return fmt.Sprintf(`Run (CORS is set on the storage account, for every container; sign in with az login or add --account-key):
az storage cors add --services b --methods GET PUT POST --origins '*' --allowed-headers %s --max-age %d --account-name %s
`, strings.Join(r.Headers, " "), corsMaxAge, bucket)
	}
	return ""
}

func quoteJoin(list []string, sep string) string {
	q := make([]string, len(list))
	for i, s := range list {
		q[i] = `"` + s + `"`
	}
	return strings.Join(q, sep)
}
