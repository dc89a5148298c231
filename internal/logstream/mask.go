package logstream

import "github.com/carto-setup/carto-setup/internal/redact"

// Masker is what the follower applies to every line before it enters the
// hub: carto-setup's one redactor. A nil Masker masks nothing.
type Masker = redact.Redactor

// NewMasker returns a redactor for anonymous secret values, for callers
// that have no names for them (benchmarks, tests).
func NewMasker(secrets []string) *Masker { return redact.New(redact.Values(secrets...)) }
