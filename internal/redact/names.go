package redact

import "bytes"

// SecretName reports whether a variable, key or field name says that its
// value is a secret. This is the one key-name rule of carto-setup:
//
//  1. The name is split into words at '_', '-', '.', spaces and camelCase
//     boundaries ("S3SecretAccessKey" → S3 Secret Access Key), and compared
//     without regard to case.
//  2. A name with the word PUBLIC is not secret (PUBLIC_KEY), nor are PWD
//     and OLDPWD (the shell's directories) and GOOGLE_APPLICATION_CREDENTIALS
//     (by Google's convention, a file path).
//  3. A name whose last word names, locates or describes a secret rather
//     than holding it is not secret: PATH, FILE, FILENAME, DIR, IMAGE, ID,
//     NAME, USER, USERNAME, URL, HOST, PORT, ENABLED, TYPE, MODE, LENGTH,
//     FINGERPRINT (also glued: KEYFILENAME, ACCESSKEYID). So
//     ROUTER_SSL_CERTIFICATE_KEY_PATH, IMPORT_KEYFILENAME,
//     S3_ACCESS_KEY_ID and every *_DOCKER_IMAGE are not secret.
//  4. Otherwise the name is secret when one of its words is a secret word
//     (see secretWord): PASSWORD, PASSWD, PASS, PASSPHRASE, PWD, SECRET,
//     TOKEN, KEY, CREDENTIAL, CREDS, PRIVATE, AUTH, AUTHORIZATION, COOKIE,
//     their plurals, or a glued word containing PASSWORD, PASSWD, SECRET or
//     CREDENTIAL, or ending in TOKEN, KEY, PASS or PWD (PGPASSWORD,
//     SECRETACCESSKEY, ACCESSTOKEN, DBPASS). Words that merely end in KEY or
//     PASS without being about secrets are not: VALKEY, HOTKEY, MONKEY,
//     BYPASS, COMPASS… Neither is TOKENLESS.
//
// The words ACCOUNT, USER and CLIENT_ID are not secret: an account or user
// name is shown to identify what is configured.
func SecretName(name string) bool {
	return secretName([]byte(name))
}

func secretName(name []byte) bool {
	if equalFoldAny(name, "PWD", "OLDPWD", "GOOGLE_APPLICATION_CREDENTIALS") {
		return false
	}
	secret := false
	var last []byte
	for i := 0; i < len(name); {
		start, end := nextWord(name, i)
		if start == end {
			break
		}
		w := name[start:end]
		if equalFoldAny(w, "PUBLIC") {
			return false
		}
		if secretWord(w) {
			secret = true
		}
		last, i = w, end
	}
	return secret && !describesSecret(last)
}

// nextWord returns the bounds of the first word of name at or after i.
func nextWord(name []byte, i int) (int, int) {
	for i < len(name) && isWordSep(name[i]) {
		i++
	}
	start := i
	for i < len(name) && !isWordSep(name[i]) {
		if i > start {
			p, c := name[i-1], name[i]
			// lower or digit → Upper: adminPassword, OAUTH2Token
			if isUpper(c) && (isLower(p) || isDigit(p)) {
				break
			}
			// Upper → Upper lower: ACMEAccount
			if isUpper(c) && isUpper(p) && i+1 < len(name) && isLower(name[i+1]) {
				break
			}
		}
		i++
	}
	return start, i
}

func isWordSep(c byte) bool { return c == '_' || c == '-' || c == '.' || c == ' ' }
func isUpper(c byte) bool   { return c >= 'A' && c <= 'Z' }
func isLower(c byte) bool   { return c >= 'a' && c <= 'z' }
func isDigit(c byte) bool   { return c >= '0' && c <= '9' }

// secretWord reports whether one word of a name makes it secret.
func secretWord(w []byte) bool {
	if equalFoldAny(w, "PASSWORD", "PASSWORDS", "PASSWD", "PASS", "PASSPHRASE", "PWD",
		"SECRET", "SECRETS", "TOKEN", "TOKENS", "KEY", "KEYS", "CREDENTIAL", "CREDENTIALS", "CREDS",
		"PRIVATE", "AUTH", "AUTHORIZATION", "COOKIE", "COOKIES") {
		return true
	}
	for _, s := range []string{"PASSWORD", "PASSWD", "SECRET", "CREDENTIAL"} {
		if containsFold(w, s) {
			return true
		}
	}
	switch {
	case hasSuffixFold(w, "TOKEN"), hasSuffixFold(w, "TOKENS"), hasSuffixFold(w, "PWD"):
		return true
	case hasSuffixFold(w, "KEY"), hasSuffixFold(w, "KEYS"):
		return !equalFoldAny(w, "VALKEY", "HOTKEY", "HOTKEYS", "MONKEY", "DONKEY", "TURKEY", "HOCKEY", "JOCKEY", "WHISKEY")
	case hasSuffixFold(w, "PASS"):
		return !equalFoldAny(w, "BYPASS", "COMPASS", "SURPASS", "TRESPASS", "OVERPASS", "UNDERPASS", "ENCOMPASS")
	}
	return false
}

// describesSecret reports whether the last word of a name says the value
// is about a secret (where it is, what it is called) rather than the
// secret itself.
func describesSecret(w []byte) bool {
	if equalFoldAny(w, "PATH", "PATHS", "FILE", "FILES", "FILENAME", "DIR", "DIRECTORY", "IMAGE",
		"ID", "IDS", "NAME", "USER", "USERNAME", "URL", "HOST", "PORT", "ENABLED", "TYPE", "MODE",
		"LENGTH", "FINGERPRINT") {
		return true
	}
	for _, s := range []string{"FILENAME", "KEYID", "KEYFILE", "KEYPATH", "PASSFILE"} {
		if hasSuffixFold(w, s) {
			return true
		}
	}
	return false
}

func equalFoldAny(w []byte, list ...string) bool {
	for _, s := range list {
		if len(w) == len(s) && hasPrefixFold(w, s) {
			return true
		}
	}
	return false
}

// hasPrefixFold compares ASCII letters without case; s is upper case.
func hasPrefixFold(w []byte, s string) bool {
	if len(w) < len(s) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := w[i]
		if isLower(c) {
			c -= 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}

func hasSuffixFold(w []byte, s string) bool {
	return len(w) >= len(s) && hasPrefixFold(w[len(w)-len(s):], s)
}

func containsFold(w []byte, s string) bool {
	for i := 0; i+len(s) <= len(w); i++ {
		if hasPrefixFold(w[i:], s) {
			return true
		}
	}
	return false
}

// span is a part of the data to mask, with what it is. from is where the
// text that makes it a secret starts: the key's name for a value masked by
// name (a stream must not be cut between the two), start otherwise.
type span struct {
	from, start, end int
	what             string
}

// isNameByte reports whether c may be part of a key name.
func isNameByte(c byte) bool {
	return isUpper(c) || isLower(c) || isDigit(c) || c == '_' || c == '-' || c == '.'
}

func isBlank(c byte) bool { return c == ' ' || c == '\t' }

// assignments finds the values that the key-name rule masks in one line
// (without its line break), offset by off, and appends them to dst. With
// dst nil it only reports whether there is one. The forms:
//
//   - a line that is an assignment: optional indentation, "#", "- " or
//     "export ", then NAME=value or NAME: value (NAME may be quoted): the
//     value is the rest of the line, quotes included (KEY=value,
//     KEY='value', KEY: value, "key": value);
//   - NAME=value anywhere (logfmt, command lines, URLs, connection
//     strings): a quoted value up to its closing quote, otherwise up to the
//     next blank;
//   - "NAME": "value" or NAME: 'value' anywhere (JSON, YAML flow, Python):
//     the inside of the quoted string.
//
// A value that is empty, already masked, CARTO's <FILL_ME> placeholder, a
// bare ${VARIABLE} reference or an unquoted true, false or null is left
// alone.
func assignments(line []byte, off int, dst []span) ([]span, bool) {
	found := false
	add := func(nameStart, nameEnd, start, end int) bool {
		name := line[nameStart:nameEnd]
		if !secretName(name) || !maskableValue(line[start:end]) {
			return false
		}
		found = true
		if dst != nil {
			dst = append(dst, span{from: off + nameStart, start: off + start, end: off + end, what: "value of " + string(name)})
		}
		return true
	}
	end := len(line)
	for end > 0 && (isBlank(line[end-1]) || line[end-1] == '\r') {
		end--
	}

	// The whole line as an assignment.
	pos := 0
	if nameStart, nameEnd, vstart, ok := lineAssignment(line[:end]); ok {
		if vstart < end && add(nameStart, nameEnd, vstart, end) {
			return dst, found
		}
		pos = vstart
	}

	// Assignments inside the line.
	for i := pos; i < end; i++ {
		c := line[i]
		if c != '=' && c != ':' {
			continue
		}
		if c == '=' && (i+1 < end && line[i+1] == '=' || i > 0 && comparison(line[i-1])) {
			continue // ==, !=, <=, >=
		}
		nameStart, nameEnd := nameBefore(line, i)
		if nameStart == nameEnd {
			continue
		}
		v := i + 1
		for v < end && isBlank(line[v]) {
			v++
		}
		if v >= end {
			continue
		}
		if c == ':' {
			// Only a quoted value: "key": "value".
			if line[v] != '"' && line[v] != '\'' {
				continue
			}
			close := closingQuote(line[:end], v)
			if close < 0 {
				close = end
			}
			if add(nameStart, nameEnd, v+1, close) {
				i = close
			}
			continue
		}
		var vend int
		if line[v] == '"' || line[v] == '\'' {
			vend = closingQuote(line[:end], v)
			if vend < 0 {
				vend = end
			} else {
				vend++
			}
		} else {
			vend = v
			for vend < end && !isBlank(line[vend]) {
				vend++
			}
		}
		if add(nameStart, nameEnd, v, vend) {
			i = vend - 1
		}
	}
	return dst, found
}

// comparison reports whether c turns a following '=' into a comparison.
func comparison(c byte) bool { return c == '!' || c == '<' || c == '>' || c == '=' }

// lineAssignment recognises a line that is one assignment and returns the
// bounds of its name and where its value starts.
func lineAssignment(line []byte) (int, int, int, bool) {
	i := 0
	skipBlank := func() {
		for i < len(line) && isBlank(line[i]) {
			i++
		}
	}
	skipBlank()
	if i < len(line) && line[i] == '#' {
		i++
		skipBlank()
	}
	if i+1 < len(line) && line[i] == '-' && line[i+1] == ' ' {
		i += 2
		skipBlank()
	}
	if bytes.HasPrefix(line[i:], []byte("export")) && i+6 < len(line) && isBlank(line[i+6]) {
		i += 6
		skipBlank()
	}
	var quote byte
	if i < len(line) && (line[i] == '"' || line[i] == '\'') {
		quote = line[i]
		i++
	}
	start := i
	for i < len(line) && isNameByte(line[i]) {
		i++
	}
	if i == start || !(isUpper(line[start]) || isLower(line[start]) || line[start] == '_') {
		return 0, 0, 0, false
	}
	end := i
	if quote != 0 {
		if i >= len(line) || line[i] != quote {
			return 0, 0, 0, false
		}
		i++
	}
	skipBlank()
	if i >= len(line) {
		return 0, 0, 0, false
	}
	switch line[i] {
	case '=':
		if i+1 < len(line) && line[i+1] == '=' {
			return 0, 0, 0, false
		}
	case ':':
		// YAML and compose-go want a blank (or nothing) after the colon;
		// this also keeps "https://…" out.
		if i+1 < len(line) && !isBlank(line[i+1]) {
			return 0, 0, 0, false
		}
	default:
		return 0, 0, 0, false
	}
	i++
	skipBlank()
	return start, end, i, true
}

// nameBefore returns the name that ends just before the separator at sep
// (blanks allowed between), unquoting "name" and 'name'.
func nameBefore(line []byte, sep int) (int, int) {
	end := sep
	for end > 0 && isBlank(line[end-1]) {
		end--
	}
	var quote byte
	if end > 0 && (line[end-1] == '"' || line[end-1] == '\'') {
		quote = line[end-1]
		end--
	}
	start := end
	for start > 0 && isNameByte(line[start-1]) {
		start--
	}
	if quote != 0 && (start == 0 || line[start-1] != quote) {
		return 0, 0
	}
	// Leading dashes and dots are options, not the name: --password.
	for start < end && (line[start] == '-' || line[start] == '.') {
		start++
	}
	return start, end
}

// closingQuote returns the index of the quote that closes the one at open,
// honouring backslash escapes inside double quotes, or -1.
func closingQuote(line []byte, open int) int {
	q := line[open]
	for i := open + 1; i < len(line); i++ {
		switch {
		case q == '"' && line[i] == '\\':
			i++
		case line[i] == q:
			return i
		}
	}
	return -1
}

// maskableValue reports whether the key-name rule masks a raw value
// (quotes included).
func maskableValue(raw []byte) bool {
	v := bytes.TrimSpace(raw)
	// An unquoted JSON or YAML literal is a flag, not a secret: the
	// "secret": true of a report that says which files hold secrets.
	switch string(bytes.TrimSuffix(v, []byte(","))) {
	case "true", "false", "null":
		return false
	}
	if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
		v = v[1 : len(v)-1]
	}
	return len(v) > 0 && string(v) != Mask && !bytes.Contains(v, []byte("<FILL_ME>")) && !variableReference(raw)
}

// variableReference reports whether a raw value is only ${NAME}, bare or
// double-quoted: it names a value defined elsewhere (masked where it is
// defined). $NAME without braces, or anything in single quotes, may be a
// secret that starts with $, so it is not taken for a reference.
func variableReference(raw []byte) bool {
	v := bytes.TrimSpace(raw)
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		v = v[1 : len(v)-1]
	}
	if len(v) < 4 || v[0] != '$' || v[1] != '{' || v[len(v)-1] != '}' {
		return false
	}
	v = v[2 : len(v)-1]
	if isDigit(v[0]) {
		return false
	}
	for _, c := range v {
		if !(isUpper(c) || isLower(c) || isDigit(c) || c == '_') {
			return false
		}
	}
	return true
}
