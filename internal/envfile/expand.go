package envfile

import "fmt"

// Expand interpolates s with the file's values exactly as a double-quoted
// value of the file would be interpolated ($$, $NAME, ${NAME} and the :-,
// -, :+, +, :? and ? forms), which is also how Compose interpolates
// docker-compose.yml against .env. Escapes are not decoded: s is taken as
// Compose takes a YAML string. Only the file's values are used, never the
// process environment; an unset name expands to "".
func (f *File) Expand(s string) (string, error) {
	out, err := expand(s, f.vals, 0, newMeter(len(f.src)+len(s)))
	if err != nil {
		return "", fmt.Errorf("envfile: expand: %w", err)
	}
	return out, nil
}
