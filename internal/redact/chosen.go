package redact

import (
	"fmt"
	"unicode/utf8"
)

// MinChosenSecret is the fewest characters carto-setup accepts for a secret
// the admin chooses for CARTO (rather than one an existing database, cache
// or cloud account already has). Eight keeps it well above ShortLen, so it
// is masked even inside other text, and out of reach of a quick guess.
const MinChosenSecret = 8

// CheckChosenSecret returns an error, whose message can be shown beside the
// field, when a secret the admin chooses is shorter than MinChosenSecret
// characters. An empty value is not checked: whether a field is required is
// the step's rule.
func CheckChosenSecret(value string) error {
	if value == "" {
		return nil
	}
	if n := utf8.RuneCountInString(value); n < MinChosenSecret {
		return fmt.Errorf("use at least %d characters (this one has %d): a short secret is easy to guess and cannot be told apart from ordinary words in logs", MinChosenSecret, n)
	}
	return nil
}
