// Package redacttest makes hostile secrets and the text that carries them,
// for property tests of every output channel (live logs, job log, review,
// support bundle, pages, answers export, console, stored logs), and says
// whether an output shows one. It is only for tests.
package redacttest

import (
	"encoding/base64"
	"encoding/json"
	"math/rand/v2"
	"strings"
	"unicode"

	"github.com/carto-setup/carto-setup/internal/redact"
	"github.com/carto-setup/carto-setup/internal/wizard"
)

// Gen makes secrets and carriers reproducibly from a seed: report the seed
// of a failing case and the case can be replayed.
type Gen struct {
	r *rand.Rand
}

// New returns a generator for seed.
func New(seed uint64) *Gen {
	return &Gen{r: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

// Intn returns a number in [0, n), for tests that pick among their own
// choices with the same seed.
func (g *Gen) Intn(n int) int { return g.r.IntN(n) }

const (
	alnum   = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	b64     = alnum + "+/"
	meta    = `.*+?()[]{}|^$\`
	hostile = `'"$` + "`" + `\#;&|<>!%~ =:,@/`
)

func (g *Gen) pick(set string, n int) string {
	var b strings.Builder
	for range n {
		b.WriteByte(set[g.r.IntN(len(set))])
	}
	return b.String()
}

// Password returns a one-line secret of a hostile shape: starting with /,
// ./ or ../ (one base64 secret in 64 starts with /), shorter than
// redact.ShortLen, full of regular-expression metacharacters, quotes, $,
// backslashes or blanks, non-ASCII, or an ordinary random one.
func (g *Gen) Password() string {
	switch g.r.IntN(10) {
	case 0:
		return []string{"/", "./", "../"}[g.r.IntN(3)] + g.pick(b64, 1+g.r.IntN(20))
	case 1:
		// Short: a letter or digit next to punctuation, so that it is not
		// an ordinary word that text around it would hold by chance.
		s := g.pick(alnum, 1+g.r.IntN(2))
		p := []string{"/", "./", "$", "'", `"`, `\`, "%", "~", "!", "^"}[g.r.IntN(10)]
		if g.r.IntN(2) == 0 {
			s = p + s
		} else {
			s += p
		}
		return s[:min(len(s), redact.ShortLen-1)]
	case 2:
		return g.pick(meta+alnum, 4+g.r.IntN(16))
	case 3:
		return g.pick(hostile+alnum, 4+g.r.IntN(20))
	case 4:
		return "$(" + g.pick(alnum, 3+g.r.IntN(6)) + ")'\"" + g.pick(alnum, 2)
	case 5:
		return strings.TrimRight(g.pick(alnum+" ", 6+g.r.IntN(10)), " ") + g.pick(alnum, 1)
	case 6:
		return g.pick(alnum, 2+g.r.IntN(6)) + []string{"é", "ß", "密码", "🔑", "ж"}[g.r.IntN(5)] + g.pick(alnum, 1+g.r.IntN(4))
	case 7:
		return g.pick(alnum, 4+g.r.IntN(4)) // ShortLen to MinChosenSecret
	default:
		raw := make([]byte, 9+g.r.IntN(24))
		for i := range raw {
			raw[i] = byte(g.r.IntN(256))
		}
		return base64.StdEncoding.EncodeToString(raw)
	}
}

// PEMKey returns a PEM private key with a random body (not a usable key:
// the masker only sees text).
func (g *Gen) PEMKey() string {
	kind := []string{"PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY"}[g.r.IntN(3)]
	raw := make([]byte, 48*(2+g.r.IntN(8))+g.r.IntN(48))
	for i := range raw {
		raw[i] = byte(g.r.IntN(256))
	}
	body := base64.StdEncoding.EncodeToString(raw)
	var b strings.Builder
	b.WriteString("-----BEGIN " + kind + "-----\n")
	for len(body) > 64 {
		b.WriteString(body[:64] + "\n")
		body = body[64:]
	}
	b.WriteString(body + "\n-----END " + kind + "-----\n")
	return b.String()
}

// KeyJSON returns a service-account key.json text holding a PEMKey.
func (g *Gen) KeyJSON() string {
	doc, _ := json.Marshal(map[string]string{
		"type": "service_account", "project_id": "carto-tnt-onp-" + g.pick("abcdefghijklmnopqrstuvwxyz", 6),
		"private_key_id": g.pick("0123456789abcdef", 40), "private_key": g.PEMKey(),
		"client_email": "serv-onp@carto-tnt-onp.iam.gserviceaccount.com",
	})
	return string(doc) + "\n"
}

// Secret returns a Password mostly, sometimes a PEMKey or a KeyJSON.
func (g *Gen) Secret() string {
	switch g.r.IntN(10) {
	case 0:
		return g.PEMKey()
	case 1:
		return g.KeyJSON()
	}
	return g.Password()
}

// FillState gives every secret field of the wizard's registry a hostile
// value of its kind (a KeyJSON for the key files, a PEMKey for the private
// keys, a Password for the rest) and returns the values, for tests of the
// channels that show a state: pages, answers export, logs, bundle.
func (g *Gen) FillState(st *wizard.State) []string {
	var out []string
	for _, f := range st.SecretFields() {
		switch f.Name {
		case "Package.KeyJSON", "Buckets.GCSKeyJSON":
			*f.Value = g.KeyJSON()
		case "TLS.KeyPEM", "TLS.ACMEAccount":
			*f.Value = g.PEMKey()
		default:
			*f.Value = g.Password()
		}
		out = append(out, *f.Value)
	}
	return out
}

// names are keys a carrier assigns a secret to: secret-looking ones,
// including the spellings of issue 20, and plain ones, where only the
// exact value can catch it.
var names = []string{"POSTGRES_PASSWORD", "DB_PASSWD", "REDIS_PASSWORD", "WORKSPACE_JWT_SECRET", "API_TOKEN",
	"ENCRYPTION_SECRET_KEY", "AZURE_CREDENTIAL", "password", "token", "PLAIN_VALUE", "user", "msg"}

// Carriers returns lines that carry s the way programs log or write it:
// alone, glued to text, quoted, in KEY=value, KEY='value', KEY: value,
// logfmt, JSON (escaped), a URL and a command line. For a multi-line s it
// returns each of its lines, and s as one JSON string. No line holds a
// line break.
func (g *Gen) Carriers(s string) []string {
	if strings.ContainsAny(s, "\r\n") {
		var out []string
		for line := range strings.SplitSeq(s, "\n") {
			if line = strings.TrimRight(line, "\r"); line != "" {
				out = append(out, line, "  "+line)
			}
		}
		esc, _ := json.Marshal(s)
		return append(out, `{"private_key": `+string(esc)+`}`, `{"`+names[g.r.IntN(len(names))]+`":`+string(esc)+`}`)
	}
	n := names[g.r.IntN(len(names))]
	esc, _ := json.Marshal(s)
	return []string{
		s,
		"connecting with " + s + " now",
		"x" + s + "y",
		n + "=" + s,
		n + "='" + s + "'",
		n + ": " + s,
		"level=info " + n + "=" + s + " msg=ok",
		`{"level":"info","` + n + `":` + string(esc) + `,"n":1}`,
		"redis://:" + s + "@cache:6379/0",
		"run --password '" + s + "' --verbose",
		"value (" + s + "), [" + s + "] <" + s + ">.",
	}
}

// SomeCarriers returns n of the one-line carriers of s picked at random,
// or every line of a multi-line s (each line must be masked on its own),
// for channels that are slower to feed than the redactor itself.
func (g *Gen) SomeCarriers(s string, n int) []string {
	all := g.Carriers(s)
	if strings.ContainsAny(s, "\r\n") || n >= len(all) {
		return all
	}
	g.r.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
	return all[:n]
}

// Shown returns the secrets of secrets that text shows (see redact.Shows),
// in any of the forms outputs carry: the value, its JSON string forms, and
// each line of a multi-line value (PEM armour lines excepted: they hide
// nothing). It returns nil when text shows none.
func Shown(text string, secrets []string) []string {
	var out []string
	for _, s := range secrets {
		if shows(text, s) {
			out = append(out, s)
		}
	}
	return out
}

func shows(text, s string) bool {
	forms := []string{s}
	for _, html := range []bool{true, false} {
		var b strings.Builder
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(html)
		enc.Encode(s)
		q := strings.TrimSuffix(b.String(), "\n")
		forms = append(forms, q[1:len(q)-1])
	}
	if strings.ContainsAny(s, "\r\n") {
		for line := range strings.SplitSeq(s, "\n") {
			line = strings.TrimSpace(line)
			// PEM armour lines and punctuation-only lines ("{" of a
			// pretty-printed key.json) hide nothing.
			if line != "" && !(strings.HasPrefix(line, "-----") && strings.HasSuffix(line, "-----")) &&
				strings.ContainsFunc(line, func(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }) {
				if redact.Shows(text, line) {
					return true
				}
			}
		}
	}
	for _, f := range forms {
		if redact.ShowsEncoded(text, f, len(s)) {
			return true
		}
	}
	return false
}
